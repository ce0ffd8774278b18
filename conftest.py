"""Repository-wide pytest hooks (the notebook part of `bash scripts/test.sh`).

Bokeh charts in notebooks and nbval
-----------------------------------
nbval re-runs every notebook and compares each cell's fresh outputs with the
stored ones, MIME type by MIME type. A Bokeh chart shown in a notebook produces
outputs that differ on every run even when the chart is identical:

* ``text/html`` -- a ``<div>`` with a freshly generated element id, and the
  empty output that replaces the BokehJS loader once the cell has run (see
  ``util.plots.show``; nbval does not apply such display updates, so a fresh
  run still holds the loader, which is left out of the comparison as well);
* ``application/javascript`` -- the BokehJS loader / the script that embeds the
  chart, full of random ids;
* ``application/vnd.bokehjs_load.v0+json`` and
  ``application/vnd.bokehjs_exec.v0+json`` -- the same, for JupyterLab's Bokeh
  renderer (jupyter_bokeh).

The PNG snapshot saved with each chart (``image/png``) is skipped by nbval
itself, like every image.

nbval keeps, on each collected notebook (an ``IPyNbFile``), a tuple
``skip_compare`` of output keys and MIME types it leaves out of the comparison
(by default metadata, tracebacks, execution counts, widget views, images). The
hook below adds the four types above to it when pytest starts collecting a
notebook. Everything else -- ``text/plain`` results, printed ``stdout`` and
``stderr``, error names and messages -- is still compared strictly, after the
regexes in ``tests/nbval_sanitize.cfg`` have masked timings, ids and pids.
The trade-off: a notebook's own HTML output is not compared either (its
``text/plain`` form still is); the course notebooks print text, not HTML.
"""

NBVAL_SKIP_MIME_TYPES = (
    "text/html",
    "application/javascript",
    "application/vnd.bokehjs_load.v0+json",
    "application/vnd.bokehjs_exec.v0+json",
)


def pytest_collectstart(collector):
    try:
        from nbval.plugin import IPyNbFile
    except ImportError:  # nbval not installed: no notebooks are collected anyway
        return
    if isinstance(collector, IPyNbFile):
        missing = tuple(m for m in NBVAL_SKIP_MIME_TYPES if m not in collector.skip_compare)
        collector.skip_compare = tuple(collector.skip_compare) + missing

