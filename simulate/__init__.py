"""Seeded, deterministic synthetic lifecycle histories, calibrated to domain.md.

    sim = Simulation(SimulationConfig(seed=7, children=20_000))
    write_jsonl(sim.events(), "events.jsonl")   # arrival order, JSON Lines input format
    sim.truth.total().as_dict()                 # what really happened, by FY of encounter
    sim.delivered_truth.total().as_dict()       # the same, over the delivered events only

Modules: `calibration` (figures and sources), `config` (what a run is asked to do),
`lifecycle` (one child's events), `feed` (lateness, disorder, duplicates), `children`
(one child's stream: history, truth, feed), `spill` (arrival months on disk), `workers`
(processes sharing out the children), `truth` (ground-truth counts), `simulation` (the
run), `writer` (JSON Lines), `clock`, `events`, `sampling` (helpers). Command line:
``ucwatch simulate --help``.
"""

from ucwatch.simulate.config import FeedRates, Rates, SimulationConfig
from ucwatch.simulate.simulation import Simulation, SimulationNotFinished, encounter_plan, simulate
from ucwatch.simulate.truth import CohortTruth, GroundTruth
from ucwatch.simulate.writer import write_jsonl

__all__ = ["CohortTruth", "FeedRates", "GroundTruth", "Rates", "Simulation", "SimulationConfig",
           "SimulationNotFinished", "encounter_plan", "simulate", "write_jsonl"]
