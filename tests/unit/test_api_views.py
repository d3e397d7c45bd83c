"""The real queue service's and federation's views fit the API's answer models exactly
(``Answer`` refuses unknown keys): a key added to a view without its model would be a 500."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from ctoengine.agents.schemas import AgentList, QueueList
from ctoengine.config import RoutingConfig
from ctoengine.federation.schemas import FederationStatus
from ctoengine.federation.service import FederationService
from ctoengine.metrics.registry import Metrics
from ctoengine.queues.service import QueueService, build_distributor


async def test_the_live_views_fit_their_models(demo: RoutingConfig) -> None:
    ctx = SimpleNamespace(
        routing=lambda: demo,
        metrics=Metrics(),
        wall=lambda: datetime(2026, 11, 22, 9, tzinfo=UTC),
        writer=SimpleNamespace(submit=lambda record: None),
        instance="unit",
    )
    queues = QueueService(ctx, None, build_distributor(demo), lambda _: None)  # type: ignore[arg-type]
    first = next(iter(queues.dist.agents))
    queues.agent_action(first, "login")
    queues.agent_action(first, "pause", "break")
    agents = AgentList.model_validate(queues.agents_view())
    assert agents.root[0].model_dump(mode="json") == queues.agent_view(first)
    assert QueueList.model_validate(queues.queues_view()).model_dump(mode="json") == queues.queues_view()
    doc = FederationService(queues, lambda: demo).status_doc()
    assert FederationStatus.model_validate(doc).model_dump(mode="json") == doc
