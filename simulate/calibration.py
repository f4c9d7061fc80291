"""The figures synthetic histories reproduce, each with where it comes from.

Documented figures (domain.md, with their public source) are marked by the source; the
rest are design assumptions, marked (unconfirmed), that only shape the data and stay
overridable through `SimulationConfig`. Nothing here draws random numbers.
"""

from __future__ import annotations

# -- Volumes -------------------------------------------------------------------------------
# ORR referrals per fiscal year (domain.md, ORR data; sum 455,442 against OIG-24-46's
# "more than 448,000" transfers). The monthly split is shaped after CBP's monthly UC
# encounter reports (unconfirmed); each row sums exactly to its FY total and March 2021
# carries the documented monthly peak of 18,715.
FY_REFERRALS: dict[int, int] = {2019: 69_488, 2020: 15_381, 2021: 122_731, 2022: 128_904,
                                2023: 118_938}
# Oct, Nov, Dec, Jan, Feb, Mar, Apr, May, Jun, Jul, Aug, Sep
MONTHLY_REFERRALS: dict[int, tuple[int, ...]] = {
    2019: (4517, 4775, 4564, 4322, 6199, 8130, 8071, 10435, 6679, 5072, 3850, 2874),
    # Title 42 expulsions from March 2020 emptied the spring and summer.
    2020: (2631, 2500, 2300, 1900, 2200, 1700, 100, 150, 250, 350, 500, 800),
    2021: (2000, 2400, 4000, 5000, 7100, 18715, 16500, 12400, 13200, 14800, 14900, 11716),
    2022: (11300, 11900, 9400, 8100, 10300, 12200, 10600, 12000, 11500, 10700, 10100, 10804),
    2023: (10300, 10500, 10100, 7600, 9300, 9900, 9100, 10900, 8400, 9800, 11700, 11338),
}
PEAK_MONTH = (2021, 3)
PEAK_MONTH_REFERRALS = 18_715

# -- Who the children are --------------------------------------------------------------------
# Age at referral (domain.md, ORR fact sheets): bracket -> share.
AGE_BRACKETS: tuple[tuple[tuple[int, int], float], ...] = (
    ((0, 5), 0.02), ((6, 12), 0.14), ((13, 14), 0.135), ((15, 16), 0.37), ((17, 17), 0.335))
# About 70% male (domain.md); the small UNKNOWN share is (unconfirmed).
SEX: tuple[tuple[str, float], ...] = (("MALE", 0.70), ("FEMALE", 0.298), ("UNKNOWN", 0.002))
# Country of birth, ISO 3166-1 alpha-2, after ORR's FY2019-23 shares (unconfirmed split).
COUNTRY_OF_BIRTH: tuple[tuple[str, float], ...] = (
    ("GT", 0.445), ("HN", 0.29), ("SV", 0.12), ("MX", 0.04), ("EC", 0.04), ("NI", 0.02),
    ("CO", 0.01), ("VE", 0.01), ("CU", 0.005), ("BR", 0.005), ("PE", 0.004), ("IN", 0.004),
    ("DO", 0.003), ("HT", 0.003), ("CN", 0.002), ("RO", 0.002), ("ZZ", 0.002))  # ZZ: unknown (ISO user-assigned)
# Where CBP meets children: the Southwest border sectors (unconfirmed split).
CBP_ENCOUNTER_STATES: tuple[tuple[str, float], ...] = (
    ("TX", 0.70), ("AZ", 0.13), ("CA", 0.10), ("NM", 0.06), ("FL", 0.01))
ICE_ENCOUNTER_SHARE = 0.03  # interior apprehensions by ICE (unconfirmed)

# -- DHS custody (domain.md "Time windows") --------------------------------------------------
# Target under 72 h; the spring 2021 surge averaged about 122 h (April 2021). Mean hours of
# custody by (year, month); other months use the baseline median (unconfirmed shape).
DHS_CUSTODY_MEDIAN_HOURS = 28.0
DHS_CUSTODY_SIGMA = 0.55
DHS_CUSTODY_SURGE_MEAN_HOURS: tuple[tuple[tuple[int, int], float], ...] = (
    ((2021, 3), 105.0), ((2021, 4), 122.0), ((2021, 5), 60.0))
DHS_CUSTODY_SURGE_SIGMA = 0.5

# -- ORR care ----------------------------------------------------------------------------------
# Length of care lognormal, median about 25 d, mean 28-34 d in 2021-22 (domain.md): sigma 0.7
# gives a mean of 32 d.
ORR_CARE_MEDIAN_DAYS = 25.0
ORR_CARE_SIGMA = 0.7
# Placement types (ORR policy guide terms); emergency intake sites only during the 2021-22
# surge (unconfirmed shares).
PLACEMENT_TYPES: tuple[tuple[str, float], ...] = (
    ("SHELTER", 0.80), ("TRANSITIONAL_FOSTER_CARE", 0.14), ("STAFF_SECURE", 0.03),
    ("SECURE", 0.01), ("RESIDENTIAL_TREATMENT_CENTER", 0.02))
SURGE_PLACEMENT = "EMERGENCY_INTAKE_SITE"
SURGE_PLACEMENT_PERIOD = ((2021, 3), (2022, 6))  # first and last month, inclusive
FACILITIES = 320          # synthetic ORR facilities (unconfirmed; ORR funds about 300)
SURGE_FACILITIES = 16     # the first serials are emergency intake sites

# -- Release ------------------------------------------------------------------------------------
# Release states FY2019-23, top 10 = 68% (domain.md, ORR "UC released to sponsors by state").
TOP_RELEASE_STATES: tuple[tuple[str, int], ...] = (
    ("TX", 63_039), ("CA", 46_293), ("FL", 43_811), ("NY", 33_582), ("NJ", 23_075),
    ("MD", 21_976), ("VA", 21_431), ("GA", 17_769), ("NC", 17_032), ("TN", 16_355))
TOP_RELEASE_SHARE = 0.68
# The other 32%, spread after ORR's state tables (unconfirmed relative weights).
OTHER_RELEASE_STATES: tuple[tuple[str, float], ...] = (
    ("MA", 10.0), ("LA", 9.0), ("AL", 8.5), ("PA", 7.0), ("OH", 7.0), ("IL", 6.0), ("SC", 6.0),
    ("WA", 5.0), ("IN", 5.0), ("KY", 4.5), ("OK", 4.0), ("CO", 4.0), ("AZ", 4.0), ("CT", 3.5),
    ("MN", 3.0), ("UT", 3.0), ("NV", 3.0), ("MO", 3.0), ("MI", 3.0), ("AR", 3.0), ("OR", 2.5),
    ("DE", 2.5), ("RI", 2.5), ("IA", 2.5), ("NE", 2.5), ("WI", 2.0), ("KS", 2.0), ("MS", 2.0),
    ("DC", 1.5), ("NM", 1.0), ("ID", 0.5), ("SD", 0.5), ("NH", 0.3), ("WV", 0.3), ("ME", 0.3),
    ("ND", 0.2), ("WY", 0.2), ("MT", 0.1), ("VT", 0.1), ("HI", 0.1), ("AK", 0.1), ("PR", 0.1))
# Sponsor categories 1-3 of those released (ORR; unconfirmed split). Category 4 children
# have no sponsor and are not released.
SPONSOR_CATEGORIES: tuple[tuple[int, float], ...] = ((1, 0.40), (2, 0.46), (3, 0.14))

# Reduced addresses: state -> (state FIPS, ((county FIPS, (ZIP3, ...)), ...)). Real county
# codes and ZIP prefixes of the largest receiving counties; the last two ZIP digits are
# random, so a ZIP need not exist.
GEOGRAPHY: dict[str, tuple[str, tuple[tuple[str, tuple[str, ...]], ...]]] = {
    "TX": ("48", (("201", ("770", "772")), ("113", ("752", "753")), ("029", ("782",)),
                  ("453", ("787",)), ("439", ("760", "761")), ("215", ("785",)), ("141", ("799",)),
                  ("157", ("774",)))),
    "CA": ("06", (("037", ("900", "902", "906", "910", "913", "917")), ("059", ("926", "928")),
                  ("071", ("923", "924")), ("065", ("922", "925")), ("073", ("919", "920", "921")),
                  ("001", ("945", "946")), ("085", ("950", "951")), ("019", ("936", "937")))),
    "FL": ("12", (("086", ("330", "331")), ("011", ("330", "333")), ("099", ("334",)),
                  ("057", ("335", "336")), ("095", ("328",)), ("071", ("339",)), ("031", ("322",)))),
    "NY": ("36", (("047", ("112",)), ("081", ("113", "114")), ("005", ("104",)), ("061", ("100",)),
                  ("103", ("117", "119")), ("059", ("115", "110")), ("119", ("105", "106")))),
    "NJ": ("34", (("017", ("070", "073")), ("039", ("070", "072")), ("031", ("074", "075")),
                  ("023", ("088", "089")), ("013", ("070", "071")), ("025", ("077",)), ("003", ("076",)))),
    "MD": ("24", (("033", ("207",)), ("031", ("208", "209")), ("510", ("212",)), ("005", ("212",)),
                  ("003", ("210",)), ("021", ("217",)))),
    "VA": ("51", (("059", ("220", "221")), ("153", ("201", "221")), ("107", ("201",)),
                  ("013", ("222",)), ("510", ("223",)), ("760", ("232",)))),
    "GA": ("13", (("135", ("300",)), ("089", ("300", "303")), ("121", ("303",)), ("067", ("300", "301")),
                  ("139", ("305",)))),
    "NC": ("37", (("119", ("282",)), ("183", ("276",)), ("081", ("274",)), ("063", ("277",)),
                  ("067", ("271",)))),
    "TN": ("47", (("037", ("372",)), ("157", ("381",)), ("093", ("379",)), ("065", ("374",)),
                  ("149", ("371",)))),
    "MA": ("25", (("025", ("021",)), ("017", ("018", "021")), ("009", ("019",)))),
    "LA": ("22", (("051", ("700",)), ("033", ("708",)))),
    "AL": ("01", (("073", ("352",)), ("095", ("359",)))),
    "PA": ("42", (("101", ("191",)), ("011", ("196",)))),
    "OH": ("39", (("049", ("432",)), ("035", ("441",)))),
    "IL": ("17", (("031", ("606", "604")),)),
    "SC": ("45", (("045", ("296",)), ("019", ("294",)))),
    "WA": ("53", (("033", ("980", "981")),)),
    "IN": ("18", (("097", ("462",)),)),
    "KY": ("21", (("111", ("402",)),)),
    "OK": ("40", (("109", ("731",)),)),
    "CO": ("08", (("031", ("802",)), ("005", ("800",)))),
    "AZ": ("04", (("013", ("850", "852")),)),
    "CT": ("09", (("001", ("068",)), ("003", ("061",)))),
    "MN": ("27", (("053", ("554",)),)),
    "UT": ("49", (("035", ("841",)),)),
    "NV": ("32", (("003", ("891",)),)),
    "MO": ("29", (("095", ("641",)),)),
    "MI": ("26", (("163", ("481", "482")),)),
    "AR": ("05", (("007", ("727",)), ("143", ("727",)))),
    "OR": ("41", (("051", ("972",)),)),
    "DE": ("10", (("005", ("199",)), ("003", ("197", "198")))),
    "RI": ("44", (("007", ("029",)),)),
    "IA": ("19", (("153", ("503",)),)),
    "NE": ("31", (("055", ("681",)),)),
    "WI": ("55", (("079", ("532",)),)),
    "KS": ("20", (("173", ("672",)), ("209", ("661",)))),
    "MS": ("28", (("049", ("392",)),)),
    "DC": ("11", (("001", ("200",)),)),
    "NM": ("35", (("001", ("871",)),)),
    "ID": ("16", (("001", ("837",)),)),
    "SD": ("46", (("099", ("571",)),)),
    "NH": ("33", (("011", ("030", "031")),)),
    "WV": ("54", (("039", ("253",)),)),
    "ME": ("23", (("005", ("041",)),)),
    "ND": ("38", (("017", ("581",)),)),
    "WY": ("56", (("021", ("820",)),)),
    "MT": ("30", (("111", ("591",)),)),
    "VT": ("50", (("007", ("054",)),)),
    "HI": ("15", (("003", ("968",)),)),
    "AK": ("02", (("020", ("995",)),)),
    "PR": ("72", (("127", ("009",)),)),
}

# Bad release addresses: 6.9% blank, undeliverable or missing a unit (OIG-25-21); the split
# between the three is (unconfirmed).
BAD_ADDRESS_SHARE = 0.069
BAD_ADDRESS_SPLIT: tuple[tuple[str, float], ...] = (
    ("MISSING_UNIT", 0.45), ("UNDELIVERABLE", 0.42), ("BLANK", 0.13))

# Immigration courts by sponsor state: EOIR-style three-letter codes (illustrative).
COURTS: dict[str, tuple[str, ...]] = {
    "TX": ("HOU", "DAL", "SNA", "HLG", "ELP"), "CA": ("LOS", "SFR", "SND", "ADL"),
    "FL": ("MIA", "ORL", "KRO"), "NY": ("NYC", "BTV", "BUF"), "NJ": ("NEW", "ELZ"),
    "MD": ("BAL", "HYA"), "VA": ("ARL", "STL"), "GA": ("ATL",), "NC": ("CHL",), "TN": ("MEM", "NSV"),
    "MA": ("BOS",), "LA": ("NOL",), "AL": ("ATL",), "PA": ("PHI",), "OH": ("CLE", "COL"),
    "IL": ("CHI",), "SC": ("CHL",), "WA": ("SEA",), "IN": ("CHI",), "KY": ("LOU",), "OK": ("DAL",),
    "CO": ("DEN",), "AZ": ("PHO",), "CT": ("HAR",), "MN": ("BLM",), "UT": ("SLC",), "NV": ("LVG",),
    "MO": ("KAN",), "MI": ("DET",), "AR": ("MEM",), "OR": ("POO",), "DE": ("PHI",), "RI": ("BOS",),
    "IA": ("OMA",), "NE": ("OMA",), "WI": ("CHI",), "KS": ("KAN",), "MS": ("NOL",), "DC": ("ARL",),
    "NM": ("ELP",), "ID": ("SLC",), "SD": ("BLM",), "NH": ("BOS",), "WV": ("ARL",), "ME": ("BOS",),
    "ND": ("BLM",), "WY": ("DEN",), "MT": ("SLC",), "VT": ("BOS",), "HI": ("HON",), "AK": ("ANC",),
    "PR": ("GUA",),
}

# -- Case outcomes of closures at a hearing (unconfirmed split) --------------------------------
HEARING_CLOSURE_OUTCOMES: tuple[tuple[str, float], ...] = (
    ("TERMINATED", 0.28), ("DISMISSED", 0.18), ("ADMIN_CLOSED", 0.17), ("RELIEF_GRANTED", 0.15),
    ("VOLUNTARY_DEPARTURE", 0.08), ("REMOVAL_ORDER", 0.10), ("OTHER", 0.04))

# -- Coded values without free text -------------------------------------------------------------
CALL_FAILURES: tuple[tuple[str, float], ...] = (
    ("NO_ANSWER", 0.72), ("WRONG_NUMBER", 0.20), ("REFUSED", 0.08))
WELFARE_CONCERNS: tuple[tuple[str, float], ...] = (
    ("SAFETY", 0.35), ("NOT_WITH_SPONSOR", 0.25), ("LABOR_EXPLOITATION", 0.15),
    ("ABUSE_NEGLECT", 0.10), ("SCHOOL_NONENROLLMENT", 0.10), ("OTHER", 0.05))
# Who verifies a location and how: (source agency code, verifying_agency, method).
VERIFICATIONS_AFTER_FTA = (("ICE", "ICE", "HOME_VISIT"), ("ICE", "ICE", "ADDRESS_RECORD_CHECK"))
VERIFICATIONS_AFTER_DEPARTURE = (("ICE", "ICE", "HOME_VISIT"), ("ORR", "ORR", "PHONE"))
VERIFICATIONS_BY_ORR = (("ORR", "ORR", "PHONE"), ("PRS", "PRS", "HOME_VISIT"))
