"""The composition root of the campaign-api service: every port wired once, with defaults."""

from __future__ import annotations

from halte_campaign_api.adapters.ports import DispatcherPort, HttpDispatcher, HttpSuppression, SuppressionPort
from halte_campaign_api.config import Settings
from halte_campaign_api.entrypoints.consumers import billing_handler, optouts_handler, reports_handler
from halte_campaign_api.handlers.events import BILLING_GROUP, OPTOUT_GROUP, REPORTS_GROUP
from halte_campaign_api.handlers.imports import ImportRunner
from halte_campaign_api.handlers.launcher import Launcher
from halte_campaign_api.runtime import CampaignRuntime
from halte_shared.clock import Clock


def bootstrap(
    settings: Settings,
    *,
    clock: Clock | None = None,
    suppression: SuppressionPort | None = None,
    dispatcher: DispatcherPort | None = None,
) -> CampaignRuntime:
    """Build the runtime of the service: database, bus, relay, ports, consumers, launcher, imports."""
    token = settings.admin_token_value()
    timeout = settings.service_timeout_seconds
    http_clients: list[HttpSuppression | HttpDispatcher] = []
    if suppression is None:
        suppression = HttpSuppression(base_url=settings.suppression_url, token=token, timeout=timeout)
        http_clients.append(suppression)
    if dispatcher is None:
        dispatcher = HttpDispatcher(base_url=settings.dispatcher_url, token=token, timeout=timeout)
        http_clients.append(dispatcher)
    runtime = CampaignRuntime(settings, clock=clock, suppression=suppression, dispatcher=dispatcher)
    runtime.launcher = Launcher(runtime)
    runtime.imports = ImportRunner(runtime)

    # Opt-outs have their own group so a backlog of reports never delays an erasure.
    runtime.add_consumer(
        group=OPTOUT_GROUP, topics=["optout.recorded", "optin.recorded"], handler=optouts_handler(runtime)
    )
    runtime.add_consumer(
        group=REPORTS_GROUP,
        topics=["dispatch.decided", "sms.outbound", "sms.delivery"],
        batch_handler=reports_handler(runtime),
    )
    runtime.add_consumer(group=BILLING_GROUP, topics=["billing.charged"], handler=billing_handler(runtime))

    if settings.launcher_enabled:
        runtime.add_background("campaign-launcher", runtime.launcher.run)
    runtime.add_background("import-reaper", runtime.imports.reaper_loop)
    runtime.on_stop(runtime.imports.stop)
    for client in http_clients:
        runtime.on_stop(client.aclose)
    return runtime
