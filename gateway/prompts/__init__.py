"""The prompt registry: versioned prompts per tenant (or shared), their labels, and the
request path's cached lookups.

    tables.py    prompts, prompt_versions, prompt_labels (migration 0009)
    content.py   what a version holds, checked once when written
    render.py    a version and the request's variables -> chat messages (pure)
    diff.py      a unified diff of two versions
    resolver.py  name + version/label -> content, cached (labels for a second, contents forever)
    service.py   create, version, label, list, show, diff (the CLI and the admin API)
"""
