"""The read side: certificates, statistics, locality lists, review queues and correction
requests, as projections of the ledger that commit each change with its position (exactly
once, resumable, rebuildable).

Each view is one module here (its fold, its interface, its statements); `engine/` runs them
all (tables and their statements on both stores, swaps, migrations, the runner, rebuilds).

    views = open_views(url)                  # what the API reads
    views.certificates.certificate(person_id)
    views.wait(position, timeout=2.0)        # read-your-writes
    views.status()                           # position, head, lag, state of each projection

    projector = projections.running.start_embedded(url)   # run them in this process
    projector.stop()
"""

from projections.views import PROJECTIONS, Views, open_views

__all__ = ["PROJECTIONS", "Views", "open_views"]
