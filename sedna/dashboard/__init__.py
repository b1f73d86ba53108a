"""``sedna dashboard``: a read-only web UI over the Kubernetes API for Sedna jobs (see docs/dashboard.md).

``kube`` reads the API, ``hub`` keeps a watched cache and fans changes out, ``views`` turns objects into
rows and plot samples (pure), ``history`` keeps the bounded in-memory plot history, ``app`` serves the JSON
API, the server-sent-event stream and the static page.
"""
