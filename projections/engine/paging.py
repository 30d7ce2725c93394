"""A projection that applies a page of events in one view transaction, with one tracking position.

Per event, a view pays a transaction for every notification (about 10× slower in catch-up and
rebuild). Per page, it loads the records the page touches, folds every event in order, and
writes the result with the page's last position: the same rows as event by event, since every
view's rows are a function of the records, and the records a fold of the events.

Every notification moves the position, including the ones a projection ignores (index
aggregates, other projections' events): a writer waiting for its own write's position
(read-your-writes) then never waits for an event nobody here handles.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import groupby
from typing import Any, ClassVar, Generic, TypeVar

from eventsourcing.persistence import Mapper, Notification, Tracking
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic

from projections.engine.tables import LEDGER, Tables, TrackingConflict

TView = TypeVar("TView", bound=Tables)

log = logging.getLogger("projections")


def streams(events: Iterable[Any]) -> Iterator[list[Any]]:
    """Events given stream after stream (a fold by person's), one list per stream."""
    for _, stream in groupby(events, key=lambda e: e.originator_id):
        yield list(stream)


class PagedProjection(Projection[TView], Generic[TView]):
    handles: ClassVar[tuple[type, ...]]  # the events it reads; the rest only move its position
    topics_read: ClassVar[frozenset[str]] = frozenset()  # the topics of `handles`
    view_class: ClassVar[type[Tables]]  # the view's tables and statements (the engine adds the store)
    # Whether the view's rows are folds of one stream (or sums of them), so that a rebuild folds
    # stream after stream (the projection has its own `replay_by_person`), not page after page.
    rebuilds_by_person: ClassVar[bool] = False
    # Events whose streams a fold by person is given before all the others (the sites, whose
    # provinces the statistics count the people's doses in).
    folded_first: ClassVar[tuple[type, ...]] = ()
    # Whether `replay_by_person` is given (position, event) pairs, not events: a view that
    # applies one stream's events where they stand among another's (the series rules').
    reads_positions: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "view_class" in cls.__dict__:
            cls.name = cls.view_class.name  # one name: the projection's is its tables' prefix
        cls.rebuilds_by_person = cls.replay_by_person is not PagedProjection.replay_by_person
        cls.topics_read = frozenset(get_topic(c) for c in getattr(cls, "handles", ()))

    def process_notifications(
        self, notifications: Sequence[Notification], mapper: Mapper[Any], after: int | None
    ) -> int:
        """Apply stored notifications (a page, in order) to a view at position `after`.

        Only the events this projection reads are decoded. Returns the new position.
        """
        events = [mapper.to_domain_event(n) for n in notifications if n.topic in self.topics_read]
        return self.process_events(events, notifications[-1].id, after)

    def process_events(self, events: list[Any], position: int, after: int | None) -> int:
        """Apply decoded events of the topics this projection reads, in order, and move the view
        from `after` to `position`: the page's last notification, or further when the reader
        knows every notification in between is of a topic this projection ignores (a rebuild
        reads only the topics its views read). Returns `position`.
        """
        tracking = Tracking(LEDGER, position)
        try:
            with self.view.applying():
                self.process_page(events, tracking, after)
        except TrackingConflict:
            raise
        except Exception as e:
            # Folding events already applied fails (a person registered twice...): say why.
            current = self.view.position()
            if current != after:
                raise TrackingConflict(f"{self.name}: the view is at {current}, not at {after}") from e
            raise
        return position

    def replay_by_person(self, events: Iterable[Any], position: int | None) -> None:
        """Rebuild the view from every event of its topics up to `position`, given stream after
        stream, each in version order, and leave it at `position` (a projection that can)."""
        raise NotImplementedError(f"{self.name} is rebuilt page by page")

    @contextmanager
    def rebuilding_aside(self) -> Iterator[int | None]:
        """For a `replay_by_person`: the view's aside tables emptied, and the view's position
        now given (for `finish_rebuilding`). Whatever stops the fold empties them again: they
        hold personal data, and the view stays as it was."""
        was = self.view.position()
        self.view.empty_rebuilding()
        try:
            yield was
        except BaseException:
            try:
                self.view.empty_rebuilding()
            except Exception:
                log.warning("%s: the tables a rebuild fills could not be emptied", self.name, exc_info=True)
            raise

    def following(self) -> None:
        """Called by a projector once the view is folded and before it follows the ledger page
        by page (nothing, unless a projection has work to do then)."""

    def forget_stopped_rebuild(self) -> None:
        """Clear what a rebuild killed halfway (kill -9, a lost machine) left beside the view:
        called by a projector once it holds the view, so no rebuild runs."""
        if self.rebuilds_by_person:
            self.view.empty_rebuilding()

    @abstractmethod
    def process_page(self, events: list[Any], tracking: Tracking, after: int | None) -> None:
        """Fold the events into the view's records and commit them with `tracking`, checking
        that the view is still at `after` (None: it has applied nothing yet)."""

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """The library's runner path (one event, one transaction): a page of one."""
        events = [domain_event] if type(domain_event) in self.handles else []
        self.process_page(events, tracking, self.view.position())
