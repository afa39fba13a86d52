"""`python -m probes run [--quick] [--only NAME ...] [--json] ...` and `python -m probes list`."""

from probes.runner import main

if __name__ == "__main__":
    raise SystemExit(main())
