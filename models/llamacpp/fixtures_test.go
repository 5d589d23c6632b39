package llamacpp

// Fixtures replay llama-server's documented answers. Each names the file of
// ggml-org/llama.cpp its shape comes from; values are made up but kept
// consistent (token bytes match token text, usage matches the token count).

// chatJSON is a non-streamed answer with logprobs.
//
// Shape: tools/server/server-task.cpp, server_task_result_cmpl_final::
// to_json_oaicompat_chat (choices[0].message, finish_reason, logprobs.content,
// usage, id, timings) and completion_token_output::probs_vector_to_json /
// to_json (id, token, bytes, logprob, top_logprobs); timings object from
// result_timings::to_json and tools/server/README.md "Timings and context
// usage". The last entry is the end-of-generation token: it adds no text, so
// token is "" and bytes is [] (both come from text_to_send).
const chatJSON = `{
  "choices": [{
    "finish_reason": "stop",
    "index": 0,
    "message": {"role": "assistant", "content": "Paris is."},
    "logprobs": {"content": [
      {"id": 40313, "token": "Paris", "bytes": [80,97,114,105,115], "logprob": -0.105,
       "top_logprobs": [
         {"id": 40313, "token": "Paris", "bytes": [80,97,114,105,115], "logprob": -0.105},
         {"id": 791, "token": "The", "bytes": [84,104,101], "logprob": -2.41},
         {"id": 12366, "token": "France", "bytes": [70,114,97,110,99,101], "logprob": -4.7}]},
      {"id": 374, "token": " is", "bytes": [32,105,115], "logprob": -1.2,
       "top_logprobs": [
         {"id": 374, "token": " is", "bytes": [32,105,115], "logprob": -1.2},
         {"id": 13, "token": ".", "bytes": [46], "logprob": -0.51},
         {"id": 11, "token": ",", "bytes": [44], "logprob": -3.3}]},
      {"id": 13, "token": ".", "bytes": [46], "logprob": -0.02,
       "top_logprobs": [
         {"id": 13, "token": ".", "bytes": [46], "logprob": -0.02},
         {"id": 279, "token": " the", "bytes": [32,116,104,101], "logprob": -4.1},
         {"id": 0, "token": "!", "bytes": [33], "logprob": -5.0}]},
      {"id": 128009, "token": "", "bytes": [], "logprob": -0.0123,
       "top_logprobs": [
         {"id": 128009, "token": "", "bytes": [], "logprob": -0.0123},
         {"id": 198, "token": "\n", "bytes": [10], "logprob": -4.5},
         {"id": 220, "token": " ", "bytes": [32], "logprob": -6.0}]}
    ]}
  }],
  "created": 1757141666,
  "model": "tiny",
  "system_fingerprint": "b6385-a1b2c3d4",
  "object": "chat.completion",
  "usage": {"completion_tokens": 4, "prompt_tokens": 12, "total_tokens": 16, "prompt_tokens_details": {"cached_tokens": 0}},
  "id": "chatcmpl-ecQULm0WqPrftUqjPZO1CFYeDjGZNbDu",
  "timings": {"cache_n": 0, "prompt_n": 12, "prompt_ms": 30.958, "prompt_per_token_ms": 2.58,
              "prompt_per_second": 387.6, "predicted_n": 4, "predicted_ms": 61.5,
              "predicted_per_token_ms": 15.375, "predicted_per_second": 65.04}
}`

// Stream events of the same answer.
//
// Shape: tools/server/server-task.cpp, server_task_result_cmpl_partial::
// to_json_oaicompat_chat — the first token sends a {"role":"assistant",
// "content":null} delta first, and each token's logprobs ride on the last
// delta it produced; a token that changes no text (here the end token)
// produces no delta, so no event. Then server_task_result_cmpl_final::
// to_json_oaicompat_chat_stream: a finish_reason chunk with an empty delta
// and, with stream_options.include_usage, a chunk with "choices": [] plus
// usage, with timings on the last chunk. Each is one "data: " line
// (format_oai_sse); the stream ends with "data: [DONE]" (README.md).
const (
	streamRole = `data: {"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"created":1757141666,"id":"chatcmpl-ecQU","model":"tiny","system_fingerprint":"b6385-a1b2c3d4","object":"chat.completion.chunk"}`
	streamTok1 = `data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":"Paris"},"logprobs":{"content":[{"id":40313,"token":"Paris","bytes":[80,97,114,105,115],"logprob":-0.105,"top_logprobs":[{"id":40313,"token":"Paris","bytes":[80,97,114,105,115],"logprob":-0.105},{"id":791,"token":"The","bytes":[84,104,101],"logprob":-2.41},{"id":12366,"token":"France","bytes":[70,114,97,110,99,101],"logprob":-4.7}]}]}}],"created":1757141666,"id":"chatcmpl-ecQU","model":"tiny","system_fingerprint":"b6385-a1b2c3d4","object":"chat.completion.chunk"}`
	streamTok2 = `data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":" is"},"logprobs":{"content":[{"id":374,"token":" is","bytes":[32,105,115],"logprob":-1.2,"top_logprobs":[{"id":374,"token":" is","bytes":[32,105,115],"logprob":-1.2},{"id":13,"token":".","bytes":[46],"logprob":-0.51},{"id":11,"token":",","bytes":[44],"logprob":-3.3}]}]}}],"created":1757141666,"id":"chatcmpl-ecQU","model":"tiny","system_fingerprint":"b6385-a1b2c3d4","object":"chat.completion.chunk"}`
	streamTok3 = `data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":"."},"logprobs":{"content":[{"id":13,"token":".","bytes":[46],"logprob":-0.02,"top_logprobs":[{"id":13,"token":".","bytes":[46],"logprob":-0.02},{"id":279,"token":" the","bytes":[32,116,104,101],"logprob":-4.1},{"id":0,"token":"!","bytes":[33],"logprob":-5.0}]}]}}],"created":1757141666,"id":"chatcmpl-ecQU","model":"tiny","system_fingerprint":"b6385-a1b2c3d4","object":"chat.completion.chunk"}`
	streamStop = `data: {"choices":[{"finish_reason":"stop","index":0,"delta":{}}],"created":1757141666,"id":"chatcmpl-ecQU","model":"tiny","system_fingerprint":"b6385-a1b2c3d4","object":"chat.completion.chunk"}`
	streamUsg  = `data: {"choices":[],"created":1757141666,"id":"chatcmpl-ecQU","model":"tiny","system_fingerprint":"b6385-a1b2c3d4","object":"chat.completion.chunk","usage":{"completion_tokens":4,"prompt_tokens":12,"total_tokens":16},"timings":{"cache_n":0,"prompt_n":12,"prompt_ms":30.958,"prompt_per_token_ms":2.58,"prompt_per_second":387.6,"predicted_n":4,"predicted_ms":61.5,"predicted_per_token_ms":15.375,"predicted_per_second":65.04}}`
	streamDone = `data: [DONE]`

	// streamStopTimings is the finish chunk when include_usage is off (or
	// the server predates it): no usage chunk, timings on the finish chunk
	// (to_json_oaicompat_chat_stream, deltas.back()). Prompt tokens are then
	// prompt_n + cache_n.
	streamStopTimings = `data: {"choices":[{"finish_reason":"length","index":0,"delta":{}}],"created":1757141666,"id":"chatcmpl-ecQU","model":"tiny","system_fingerprint":"b6385-a1b2c3d4","object":"chat.completion.chunk","timings":{"cache_n":8,"prompt_n":4,"prompt_ms":10,"predicted_n":4,"predicted_ms":40}}`

	// streamPing is an SSE comment, as llama-server sends while a long
	// prompt is processed (README.md, sse_ping_interval).
	streamPing = `: ping`

	// streamErr is a failure mid-stream: format_oai_sse(json {{"error",
	// res_json}}) in tools/server/server.cpp, the body from
	// format_error_response (tools/server/server-common.cpp).
	streamErr = `data: {"error":{"code":500,"message":"Failed to decode the batch, n_batch = 512, ret = -1","type":"server_error"}}`

	// streamErrOld is how servers of late 2024 reported it:
	// server_sent_event(sink, "error", error_data) in
	// examples/server/server.cpp, a non-standard "error:" field.
	streamErrOld = `error: {"code":500,"message":"Failed to decode the batch","type":"server_error"}`
)

// sse joins events as llama-server writes them: each followed by a blank line.
func sse(events ...string) string {
	var s string
	for _, e := range events {
		s += e + "\n\n"
	}
	return s
}

// chatNoLogprobsJSON is an answer from a server that does not return OpenAI
// logprobs (examples/server/utils.hpp format_final_response_oaicompat of
// late 2024 had no logprobs member).
const chatNoLogprobsJSON = `{"choices":[{"finish_reason":"stop","index":0,"message":{"content":"Paris.","role":"assistant"}}],
 "created":1730000000,"model":"tiny","object":"chat.completion","usage":{"completion_tokens":2,"prompt_tokens":12,"total_tokens":14},"id":"chatcmpl-x"}`

// Error bodies.
const (
	// errLoading: tools/server/server-http.cpp, middleware_server_state, for
	// any route while the model loads; README.md GET /health documents it.
	errLoading = `{"error":{"message":"Loading model","type":"unavailable_error","code":503}}`
	// errLoadingOld / errHealthFailedOld: examples/server/README.md of early
	// 2024, GET /health: 503 {"status": "loading model"}, 500 {"status": "error"}.
	errLoadingOld      = `{"status": "loading model"}`
	errHealthFailedOld = `{"status": "error"}`
	// errNotFound: tools/server/server-http.cpp, set_error_handler for 404.
	errNotFound = `{"error":{"message":"File Not Found","type":"not_found_error","code":404}}`
	// errInvalid: format_error_response(..., ERROR_TYPE_INVALID_REQUEST) in
	// tools/server/server-common.cpp; the message is one that
	// oaicompat_chat_params_parse throws.
	errInvalid = `{"error":{"code":400,"message":"Only one completion choice is allowed","type":"invalid_request_error"}}`
	// errContext: server_task_result_error::to_json in
	// tools/server/server-task.cpp adds n_prompt_tokens and n_ctx; message
	// from tools/server/server-context.cpp.
	errContext = `{"error":{"code":400,"message":"request (4170 tokens) exceeds the available context size (4096 tokens), try increasing it","type":"exceed_context_size_error","n_prompt_tokens":4170,"n_ctx":4096}}`
	// errRouterModel: router mode, tools/server/server-models.cpp, answers
	// format_error_response("model not found", ERROR_TYPE_INVALID_REQUEST).
	errRouterModel = `{"error":{"code":400,"message":"model not found","type":"invalid_request_error"}}`
	// errAuth: tools/server/server-http.cpp, middleware_validate_api_key.
	errAuth = `{"error":{"message":"Invalid API Key","type":"authentication_error","code":401}}`
	// errServer: ERROR_TYPE_SERVER in format_error_response.
	errServer = `{"error":{"code":500,"message":"Failed to decode the batch","type":"server_error"}}`
	// errException: tools/server/server-http.cpp, set_exception_handler,
	// answers 500 with the exception text as text/plain.
	errException = `Unknown Exception`
	// errNoEmbeddings: handle_embeddings_impl (tools/server/server.cpp)
	// without --embeddings, ERROR_TYPE_NOT_SUPPORTED is 501.
	errNoEmbeddings = "{\"error\":{\"code\":501,\"message\":\"This server does not support embeddings. Start it with `--embeddings`\",\"type\":\"not_supported_error\"}}"
)

// Health and props.
const (
	// healthOK: README.md GET /health.
	healthOK = `{"status": "ok" }`

	// propsCurrent: README.md GET /props "Response format" (trimmed params):
	// n_ctx inside default_generation_settings, next to params; the same
	// layout as get_props in tools/server/server.cpp, whose n_ctx is
	// slots[0].n_ctx, the per-slot context.
	propsCurrent = `{
  "default_generation_settings": {
    "id": 0, "id_task": -1, "n_ctx": 1024, "speculative": false, "is_processing": false,
    "params": {"n_predict": -1, "seed": 4294967295, "temperature": 0.800000011920929, "top_k": 40, "max_tokens": -1, "n_probs": 0},
    "prompt": "",
    "next_token": {"has_next_token": true, "has_new_line": false, "n_remain": -1, "n_decoded": 0, "stopping_word": ""}
  },
  "total_slots": 1,
  "model_path": "../models/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf",
  "chat_template": "{% for message in messages %}...{% endfor %}",
  "chat_template_caps": {},
  "modalities": {"vision": false},
  "media_marker": "<__media_YoNhud46VdDqbuFmKYEO9PY7A4ARzRfg__>",
  "build_info": "b6385-a1b2c3d4",
  "is_sleeping": false
}`

	// propsOct2024: examples/server/server.cpp handle_props of late 2024:
	// {default_generation_settings, total_slots, chat_template}, where the
	// settings are the slot's flat generation settings with n_ctx.
	propsOct2024 = `{"default_generation_settings":{"n_ctx":4096,"n_predict":-1,"model":"models/tiny.gguf","seed":-1,"temperature":0.8,"top_k":40},"total_slots":2,"chat_template":"{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}"}`

	// propsTopLevel has n_ctx at the top, as the brief describes for some
	// versions (and as a third-party client's LlamaCppServerProps type
	// reads it); llama.cpp's own handlers put it in
	// default_generation_settings.
	propsTopLevel = `{"n_ctx":8192,"chat_template":"<|im_start|>...","model_path":"/m/qwen.gguf","build_info":"b7000-0f0f0f0"}`
)

// Embeddings. POST /embedding with {"content": ...}.
const (
	// embPerToken: --pooling none. tools/server/server-context.cpp
	// send_embedding pushes every token's row unnormalized;
	// server_task_result_embd::to_json_non_oaicompat (server-task.cpp) is
	// {"index", "embedding"}, and the handler answers json(responses), an
	// array. README.md POST /embeddings shows the same layout.
	embPerToken = `[{"index":0,"embedding":[[1,2,3],[3,4,5],[2,0,-2]]}]`
	// embPooledRow: any other pooling, current servers. send_embedding
	// normalizes the pooled vector (embd_normalize) and pushes one row.
	embPooledRow = `[{"index":0,"embedding":[[0.6,0,0.8]]}]`
	// embPooledFlat: one flat vector inside the array, as the brief
	// describes.
	embPooledFlat = `[{"index":0,"embedding":[0.6,0,0.8]}]`
	// embObjectIndex: examples/server/server.cpp of late 2024, send_embedding
	// sets {"embedding", embd_res}, {"index", slot.index} and /embedding
	// answers responses[0], an object.
	embObjectIndex = `{"embedding":[3,0,4],"index":0}`
	// embObjectOld: mid-2024 examples/server/server.cpp, {"embedding", embd_res}.
	embObjectOld = `{"embedding":[3,0,4]}`
)
