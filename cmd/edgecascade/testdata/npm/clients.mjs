// The official OpenAI and Ollama JS libraries and LangChain's ChatOpenAI,
// unmodified, against a real edgecascade daemon (DAEMON_URL) on the test bed:
// chat, stream, JSON mode, embeddings, legacy completions, show, ps, and
// tools under policy local (the test bed model has no tools capability, so
// the daemon must refuse with a 400 naming tools). Prints "ok <check>" per
// check; exits 1 at the first failure. Run by cmd/edgecascade's
// TestNPMClients.
import OpenAI from "openai";
import { Ollama } from "ollama";
import { ChatOpenAI, OpenAIEmbeddings } from "@langchain/openai";
import { assert, base, check, run, tool } from "./checks.mjs";

const question = "What is the capital of Osninax?";

// refused runs fn, which must fail with a 400 whose message names field.
async function refused(fn, field) {
  try {
    await fn();
  } catch (e) {
    const status = e.status ?? e.status_code;
    const msg = String(e.message ?? e);
    assert(status === 400 || msg.includes("400"), `want a 400, got ${status}: ${msg}`);
    assert(msg.includes(field), `the error does not name ${field}: ${msg}`);
    return;
  }
  throw new Error(`no error: the daemon should refuse ${field}`);
}

// The official OpenAI SDK.
const openai = new OpenAI({ baseURL: base + "/v1", apiKey: "unused", maxRetries: 0 });
check("openai chat", async () => {
  const r = await openai.chat.completions.create({ model: "local", temperature: 0, messages: [{ role: "user", content: question }] });
  assert(r.choices[0].message.content.length > 0, "empty answer");
  assert(r.cascade && r.cascade.route === "local", `cascade ${JSON.stringify(r.cascade)}`);
  assert(r.usage.total_tokens > 0, "no usage");
});
check("openai stream", async () => {
  const s = await openai.chat.completions.create({
    model: "local", temperature: 0, stream: true, stream_options: { include_usage: true },
    messages: [{ role: "user", content: question }],
  });
  let text = "", finish = "", usage = false;
  for await (const ch of s) {
    for (const c of ch.choices) {
      text += c.delta?.content ?? "";
      if (c.finish_reason) finish = c.finish_reason;
    }
    if (ch.usage) usage = true;
  }
  assert(text.length > 0 && finish !== "" && usage, `text ${JSON.stringify(text)}, finish ${finish}, usage ${usage}`);
});
check("openai json mode", async () => {
  const r = await openai.chat.completions.create({
    model: "local", temperature: 0, max_tokens: 48, response_format: { type: "json_object" },
    messages: [{ role: "user", content: "Give a JSON object with a field name." }],
  });
  assert(r.choices[0].message.content.trim().startsWith("{"), `not JSON: ${r.choices[0].message.content}`);
});
check("openai logprobs", async () => {
  const r = await openai.chat.completions.create({
    model: "local", temperature: 0, logprobs: true, top_logprobs: 2, messages: [{ role: "user", content: question }],
  });
  const lp = r.choices[0].logprobs?.content ?? [];
  assert(lp.length > 0 && lp.every((t) => typeof t.logprob === "number"), `logprobs ${JSON.stringify(r.choices[0].logprobs)}`);
});
check("openai embeddings", async () => {
  const r = await openai.embeddings.create({ model: "local", input: ["the cat", "the dog"] });
  assert(r.data.length === 2 && r.data[0].embedding.length > 0, `embeddings ${r.data.length}`);
});
check("openai completions", async () => {
  const r = await openai.completions.create({ model: "local", prompt: question, temperature: 0, max_tokens: 16, logprobs: 1 });
  assert(r.choices[0].text.length > 0 && r.choices[0].logprobs.tokens.length > 0, `completion ${JSON.stringify(r.choices[0])}`);
});
check("openai models retrieve", async () => {
  const m = await openai.models.retrieve("auto");
  assert(m.id === "auto", `model ${JSON.stringify(m)}`);
});
check("openai tools under local", () =>
  refused(() => openai.chat.completions.create({ model: "local", tools: [tool], messages: [{ role: "user", content: "Weather in Paris?" }] }), "tools"));

// The official Ollama library.
const ollama = new Ollama({ host: base });
check("ollama chat", async () => {
  const r = await ollama.chat({ model: "local", messages: [{ role: "user", content: question }], options: { temperature: 0, top_k: 40, num_ctx: 256 } });
  assert(r.message.content.length > 0 && r.done, `chat ${JSON.stringify(r)}`);
});
check("ollama stream", async () => {
  let text = "", done = false;
  for await (const part of await ollama.chat({ model: "local", stream: true, messages: [{ role: "user", content: question }] })) {
    text += part.message.content;
    done = done || part.done;
  }
  assert(text.length > 0 && done, `stream ${JSON.stringify(text)} done ${done}`);
});
check("ollama json mode", async () => {
  const r = await ollama.chat({ model: "local", format: "json", options: { num_predict: 48 }, messages: [{ role: "user", content: "Give a JSON object with a field name." }] });
  assert(r.message.content.trim().startsWith("{"), `not JSON: ${r.message.content}`);
});
check("ollama generate raw", async () => {
  // Under auto: a raw completion is the local model's, never escalated.
  const r = await ollama.generate({ model: "auto", raw: true, prompt: "<|im_start|>user\n" + question + "<|im_end|>\n<|im_start|>assistant\n", options: { temperature: 0 } });
  assert(r.response.length > 0 && r.cascade && r.cascade.reason.includes("raw completion"), `generate ${JSON.stringify(r)}`);
});
check("ollama embed", async () => {
  const r = await ollama.embed({ model: "local", input: ["the cat", "the dog"] });
  assert(r.embeddings.length === 2 && r.embeddings[0].length > 0, `embed ${r.embeddings.length}`);
});
check("ollama show", async () => {
  const r = await ollama.show({ model: "local" });
  assert(Array.isArray(r.capabilities) && r.capabilities.includes("completion") && !r.capabilities.includes("tools"), `capabilities ${JSON.stringify(r.capabilities)}`);
  assert(r.details && r.details.family, `details ${JSON.stringify(r.details)}`);
});
check("ollama ps", async () => {
  const r = await ollama.ps();
  assert(Array.isArray(r.models) && r.models.some((m) => m.name === "local"), `ps ${JSON.stringify(r)}`);
});
check("ollama tools under local", () =>
  refused(() => ollama.chat({ model: "local", tools: [tool], messages: [{ role: "user", content: "Weather in Paris?" }] }), "tools"));

// LangChain's OpenAI integration, an application framework.
const lc = new ChatOpenAI({ model: "local", temperature: 0, maxRetries: 0, apiKey: "unused", configuration: { baseURL: base + "/v1" } });
check("langchain invoke", async () => {
  const r = await lc.invoke(question);
  assert(typeof r.content === "string" && r.content.length > 0, `invoke ${JSON.stringify(r.content)}`);
});
check("langchain stream", async () => {
  let text = "";
  for await (const ch of await lc.stream(question)) text += ch.content;
  assert(text.length > 0, "empty stream");
});
check("langchain json mode", async () => {
  // A bound on the answer: the tiny model under a JSON grammar fills its
  // context otherwise, and Ollama then ends the stream without done.
  const short = new ChatOpenAI({ model: "local", temperature: 0, maxTokens: 48, maxRetries: 0, apiKey: "unused", configuration: { baseURL: base + "/v1" } });
  const r = await short.invoke("Give a JSON object with a field name.", { response_format: { type: "json_object" } });
  assert(String(r.content).trim().startsWith("{"), `not JSON: ${r.content}`);
});
check("langchain embeddings", async () => {
  const e = new OpenAIEmbeddings({ model: "local", maxRetries: 0, apiKey: "unused", configuration: { baseURL: base + "/v1" } });
  const v = await e.embedDocuments(["the cat", "the dog"]);
  assert(v.length === 2 && v[0].length > 0, `embeddings ${v.length}`);
});
check("langchain tools under local", () => refused(() => lc.bindTools([tool]).invoke("Weather in Paris?"), "tools"));

await run();
