"""Who a device is: catalog matching of device names (`gpu_identity.matching`) and last-level
cache sizes (`gpu_identity.caches`). Standard library only, shared by the probes (on the measured
machine) and the web service (which re-identifies submitted devices)."""
