"""The view engine: what every view of the read side runs on, whichever the view.

- `statements`: the dialect views write their SQL in (`{table}`, `?`), for both stores.
- `tables`: a view's tables, tracking row, runner row, rebuild swap and status;
  `sqlite` and `postgres` the two stores; `stores` builds a view's class for its store;
  `migrations` numbers the schema's changes.
- `paging`: a projection applying a page per transaction; `shared_fold` and `read_ahead`:
  the reads a rebuild shares between views; `shared_follow`: the one read of the ledger a
  projector's views follow it through; `gathered_reads`: point reads gathered per loop turn.
- `runner`: a supervised worker per projection; `rebuild`: rebuilding views, reporting
  progress to a callback.

The views themselves (their folds, interfaces and statements) are the modules beside this
package; the engine imports none of them.
"""
