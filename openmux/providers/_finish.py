"""How an OpenAI-protocol answer says it finished, for the call stage to check."""

FINISH_MARK = "finish_reason"
"""Where an OpenAI-protocol answer says how it finished (`finish_reason`, on the message's
response_metadata): the call stage ends a stream that never says it as cut short, and
fails an answer that finished with "error"."""

DONE_MARK = "stream_done"
"""On the last chunk of a stream that ended with `[DONE]`, where the stream is read here
(not through langchain-openai, which hides it): that says it finished too, since some
OpenAI-compatible servers send no finish reason."""
