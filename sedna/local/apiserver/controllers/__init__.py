"""Controllers a cluster runs beside its API server: garbage collector, namespaces, CRDs, workloads."""
