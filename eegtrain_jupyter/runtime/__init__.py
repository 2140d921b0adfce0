"""Where training runs: a worker process per run (forked by the fork server, or torchrun's),
the relay of its events to the service's listeners, and the supervisor that starts, watches and
stops it."""
