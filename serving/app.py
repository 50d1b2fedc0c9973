"""Ray Serve application: the ``AIGateway`` ingress and the bound application graph.

``AIGateway`` is thin: each replica builds a :class:`serving.core.GatewayCore` (keys, rate
limits, cache, feature lookups, deployment handles, A/B split) and serves the FastAPI app of
:func:`serving.http.create_api` over it, built at replica start
(``__serve_build_asgi_app__``). Routes live in :mod:`serving.routes`, one router per domain.

Every endpoint is admitted (API key -> user/team/role, per-key rate limit) and recorded in
``ai_interactions``; lead scores are computed in dynamic batches (:mod:`serving.lead_batch`).
"""

from typing import Any

from fastapi import FastAPI
from ray import serve

from serving.config import RequestLimits, ServeConfig, serve_config_from_settings
from serving.core import GatewayCore
from serving.http import create_api
from serving.model_server import CHALLENGER_DEPLOYMENT, CHAMPION_DEPLOYMENT, ModelServer
from serving.stream_consumer import CONSUMER_DEPLOYMENT, EventConsumer
from training.registry import CHALLENGER, CHAMPION

#: Name of the second TextAI binding, which runs transcript analyses.
CONVERSATION_DEPLOYMENT = "ConversationAI"


#: The gateway logs one JSON access line per request itself (``serving.middleware.AccessLog``,
#: with the caller), so Serve's own access line, the same facts written again, is off here.
GATEWAY_LOGGING = {"encoding": "JSON", "log_level": "INFO", "enable_access_log": False}


@serve.deployment(
    name="AIGateway", ray_actor_options={"num_cpus": 0.5}, logging_config=GATEWAY_LOGGING
)
@serve.ingress()
class AIGateway:
    """HTTP ingress of the AI endpoints (one :class:`~serving.core.GatewayCore` a replica)."""

    def __init__(
        self,
        config: ServeConfig,
        text: Any = None,
        champion: Any = None,
        challenger: Any = None,
        conversation: Any = None,
        consumers: Any = None,
    ) -> None:
        self.core = GatewayCore(config, text, champion, challenger, conversation)
        self.core.consumers = consumers  # the EventConsumer deployment (real-time engine)

    def __serve_build_asgi_app__(self) -> FastAPI:
        """Build this replica's FastAPI app over its core (called by Ray Serve at start)."""
        return create_api(self.core)

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        """Apply a new A/B split (and re-read the aliases on a new generation), no restart."""
        self.core.reconfigure(user_config)


def build_app(
    config: ServeConfig,
    deployment_options: dict[str, Any] | None = None,
    text_options: dict[str, Any] | None = None,
    model_options: dict[str, dict[str, Any]] | None = None,
    code_version: str | None = None,
) -> serve.Application:
    """Bind the application graph with options from ``configs/serve.yaml``.

    The gateway gets handles of TextAI and of the two model deployments: ``ChampionModels``
    and ``ChallengerModels``, the same :class:`ModelServer` class bound to each alias; and of
    ``ConversationAI``, the TextAI class bound again for transcript analyses, so a long
    analysis never holds the replicas that answer search and email calls; and of
    ``EventConsumer``, the real-time engine's rescoring consumers.

    Args:
        config: The replica config.
        deployment_options: The gateway's deployment options.
        text_options: TextAI's deployment options.
        model_options: Deployment options by deployment name (model deployments,
            ``ConversationAI`` and ``EventConsumer``).
        code_version: Pins every deployment's code version (see :func:`pin_version`).
    """
    from serving.text_app import TextAI

    model_options = model_options or {}
    text = pin_version(TextAI, code_version).options(**(text_options or {}))
    conversation = pin_version(TextAI, code_version).options(
        **{"name": CONVERSATION_DEPLOYMENT, **model_options.get(CONVERSATION_DEPLOYMENT, {})}
    )
    champion = pin_version(ModelServer, code_version).options(
        **{"name": CHAMPION_DEPLOYMENT, **model_options.get(CHAMPION_DEPLOYMENT, {})}
    )
    challenger = pin_version(ModelServer, code_version).options(
        **{"name": CHALLENGER_DEPLOYMENT, **model_options.get(CHALLENGER_DEPLOYMENT, {})}
    )
    consumers = pin_version(EventConsumer, code_version).options(
        **model_options.get(CONSUMER_DEPLOYMENT, {})
    )
    gateway = pin_version(AIGateway, code_version).options(**(deployment_options or {}))
    return gateway.bind(
        config,
        text.bind(config.settings),
        champion.bind(config, CHAMPION),
        challenger.bind(config, CHALLENGER),
        conversation.bind(config.settings),
        consumers.bind(config),
    )


def pin_version(deployment: serve.Deployment, code_version: str | None) -> serve.Deployment:
    """Give a deployment a fixed code version so redeploying unchanged code is in place.

    ``serve.run`` gives every deployment a random code version, so each redeploy would restart
    every replica. ``serve deploy`` of a config file instead derives the version from the
    application (what Serve does internally with ``version`` and ``_internal=True``). Pinning
    the version to a hash of the code and config (:func:`serving.runner.code_version`) gives
    ``serve.run`` the same semantics: a new ``user_config`` or replica count reconfigures the
    running replicas (Ray Serve's lightweight update), new code restarts them.
    """
    if code_version is None:
        return deployment
    return deployment.options(version=code_version, _internal=True)


def app_builder(args: dict[str, str]) -> serve.Application:
    """Build the app for ``serve run/deploy configs/serve.yaml`` (settings from the env/YAML)."""
    from haste.settings import get_settings

    limits = RequestLimits.from_mapping(args.get("limits"))  # type: ignore[arg-type]
    return build_app(
        serve_config_from_settings(
            get_settings(), str(args.get("model_name", "lead_scoring")), limits
        )
    )


__all__ = ["AIGateway", "ServeConfig", "app_builder", "build_app"]
