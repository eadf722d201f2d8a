"""Azure OpenAI through the official SDK's ``openai.AsyncAzureOpenAI`` client.

Azure speaks OpenAI's chat format, so everything but the client (endpoint,
``api-version`` query, ``api-key`` header) and the model name is inherited
from :class:`OpenAIProvider`. Azure routes by *deployment* name: the SDK puts
the body's ``model`` into ``/openai/deployments/{model}/…``, so the request's
model is swapped for its deployment on the way out, and the answer is
reported (and priced) under the model the caller asked for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import openai

from llm_gateway.interface import LLMRequest, LLMResponse, StreamChunk
from llm_gateway.providers.clients import sdk_client
from llm_gateway.providers.openai_provider import OpenAIProvider
from llm_gateway.providers.patterns import ServesPatterns


class AzureOpenAIProvider(ServesPatterns, OpenAIProvider):
    """Chat completions on an Azure OpenAI resource."""

    kind = "azure_openai"

    def __init__(
        self,
        *,
        api_key: str,
        endpoint: str,
        api_version: str,
        deployments: Mapping[str, str] | None = None,
        name: str = "azure_openai",
        models: tuple[str, ...] = (),
        model: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> None:
        super().__init__(
            api_key=api_key,
            model=model,
            base_url=endpoint,
            timeout=timeout,
            max_retries=max_retries,
            name=name,
        )
        self.api_version = api_version
        self.deployments = dict(deployments or {})
        self.model_patterns = tuple(models)

    def __repr__(self) -> str:  # never show the key
        return f"AzureOpenAIProvider(name={self.name!r}, endpoint={self.base_url!r})"

    def client(self) -> openai.AsyncAzureOpenAI:  # type: ignore[override]
        return sdk_client(
            openai.AsyncAzureOpenAI,
            openai.DefaultAioHttpClient,
            timeout=self.timeout,
            api_key=self.api_key,
            azure_endpoint=self.base_url or "",
            api_version=self.api_version,
        )

    def deployment_for(self, model: str) -> str:
        """The deployment serving ``model``; unmapped names are taken as deployments."""
        return self.deployments.get(model, model)

    def upstream_model(self, model: str) -> str:
        """Embeddings, Responses and the rest (``OpenAIOperations``) go to the deployment."""
        return self.deployment_for(model)

    async def complete(self, request: LLMRequest) -> LLMResponse:
        model = request.model or self.default_model
        response = await super().complete(request.with_model(self.deployment_for(model)))
        response.model = _reported_model(response.model, model, self.deployment_for(model))
        return response

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamChunk]:
        model = request.model or self.default_model
        deployment = self.deployment_for(model)
        async for chunk in super().stream(request.with_model(deployment)):
            if chunk.model is not None:
                chunk.model = _reported_model(chunk.model, model, deployment)
            yield chunk


def _reported_model(answered: str, requested: str, deployment: str) -> str:
    """Azure answers with the underlying model (e.g. ``gpt-4o-mini-2024-07-18``),
    which prices correctly; an empty or deployment-named answer is replaced by
    the requested model so the call is still priced."""
    if not answered or answered == deployment:
        return requested
    return answered
