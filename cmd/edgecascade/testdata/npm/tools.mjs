// Tools routing through the official OpenAI and Ollama JS libraries and
// LangChain's ChatOpenAI, unmodified, against a real edgecascade daemon
// (DAEMON_URL) whose local model (the test bed's weak model) reports no tools
// capability and whose cloud (the weak model with a tools template, through
// Ollama's /v1) takes tools: under policy auto a request with tools goes to
// the cloud and cascade.reason says why. Prints "ok <check>" per check; exits
// 1 when one fails. Run by cmd/edgecascade's TestNPMClientsTools.
import OpenAI from "openai";
import { Ollama } from "ollama";
import { ChatOpenAI } from "@langchain/openai";
import { assert, base, check, run, tool } from "./checks.mjs";

const messages = [{ role: "user", content: "Weather in Paris?" }];

// toCloud checks a response's cascade object: answered by the cloud because
// the local model does not take tools.
function toCloud(c) {
  assert(c && c.route === "cloud", `cascade ${JSON.stringify(c)}`);
  assert(String(c.reason).includes("tools"), `the reason does not name tools: ${c.reason}`);
}

const openai = new OpenAI({ baseURL: base + "/v1", apiKey: "unused", maxRetries: 0 });
check("openai tools under auto", async () => {
  const r = await openai.chat.completions.create({ model: "auto", max_tokens: 16, tools: [tool], messages });
  toCloud(r.cascade);
  assert(r.choices.length === 1 && ["stop", "length", "tool_calls"].includes(r.choices[0].finish_reason), `choices ${JSON.stringify(r.choices)}`);
});
check("openai tools stream under auto", async () => {
  const s = await openai.chat.completions.create({ model: "auto", max_tokens: 16, stream: true, tools: [tool], messages });
  let finish = null;
  let cascade = null;
  for await (const chunk of s) {
    if (chunk.choices?.[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
    if (chunk.cascade) cascade = chunk.cascade;
  }
  assert(finish !== null, "no finish reason");
  toCloud(cascade);
});

const ollama = new Ollama({ host: base });
check("ollama tools under auto", async () => {
  const r = await ollama.chat({ model: "auto", tools: [tool], messages, options: { num_predict: 16 } });
  toCloud(r.cascade);
  assert(r.done, "not done");
});

check("langchain tools under auto", async () => {
  const lc = new ChatOpenAI({ model: "auto", maxTokens: 16, maxRetries: 0, apiKey: "unused", configuration: { baseURL: base + "/v1" } });
  const r = await lc.bindTools([tool]).invoke("Weather in Paris?");
  assert(r.response_metadata && ["stop", "length", "tool_calls"].includes(r.response_metadata.finish_reason), `metadata ${JSON.stringify(r.response_metadata)}`);
});

await run();
