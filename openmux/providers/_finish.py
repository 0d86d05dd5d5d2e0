"""How an OpenAI-protocol answer says it finished, for the call stage to check."""

FINISH_MARK = "finish_reason"
"""Where an OpenAI-protocol answer says how it finished (`finish_reason`, on the message's
response_metadata): the call stage ends a stream that never says it (nor ends with
`[DONE]`, see `watching_done`) as cut short, and fails an answer that finished with
"error"."""
