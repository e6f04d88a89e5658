"""Looking at the results: the results page (``toolkit serve``, ``toolkit report``) and the web outputs.

Layout: ``collect`` (Analyses through the metamist client, states through the plan stage), ``runs`` (the record
of failed groups that ``toolkit run`` keeps), ``plots`` (matplotlib SVG), ``render`` (Jinja2 page and its
assets under ``static/``), ``server`` (Starlette: the page and this home's web-category storage, with the
security headers). Heavy modules (matplotlib, starlette, the pipeline) are imported by the verbs that use them.
"""
