"""Delivery of notices to the agencies: the notifier reads the notifications topic and
delivers each notice once to the recipient's endpoints (webhooks, e-mail).

    run          `ucwatch notify`: checks, wiring, signals        (docs/notify.md)
    notifier     the loop on Kafka; the commit order, numbered
    coordinator  the delivery state machine, without I/O
    offsets      a partition's commit point and the log start stored with it
    history      what the delivery log says about notices not yet committed
    log_reader   reading a partition of the delivery log back
    outbox       writes: delivery log, dead letters, alerts
    undelivered  the dead letter and NOTICE_UNDELIVERED alert of a notice given up
    endpoints    endpoints and secrets from `[notify]` settings, checked
    webhook      signed HTTPS POST;  smtp: e-mail;  message: what they carry
    signature    HMAC-SHA256 signing and verifying;  ids: keys and alert ids
    budget       attempts and back-off;  pool: the sender threads
    metrics      Prometheus metrics;  observe: metrics and log lines (HTTP endpoints: core.health)
"""
