"""Client API shapes to and from the gateway's internal one (OpenAI chat completions).

One pure module per client API: `responses` (OpenAI Responses), `messages` (Anthropic
Messages), `completions` (legacy OpenAI completions). Each has a parser (client request ->
chat body), a renderer (ChatResult body -> the client's response object) and a stream
renderer (chat chunks -> the client's server-sent events). No I/O here: the routes in
gateway/api/ do that, and each provider translates the chat shape to its upstream's, so
every (client API x upstream) pair composes from two translations.
"""
