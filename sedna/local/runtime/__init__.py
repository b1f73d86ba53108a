"""The process runtime of the single-machine cluster: a kubelet that runs pods as process groups.

One node agent per emulated node (``python -m sedna.local.runtime --node NAME --server URL ...``) watches
the pods bound to its node and runs their containers as subprocesses; one cluster-services process
(``--cluster-services``) binds unscheduled pods to nodes, gives Services their ClusterIPs and proxies them.
"""
