// Drives a running `jgpt serve` with the official OpenAI Node client.
// Usage: node test.mjs http://127.0.0.1:PORT   (exit 0 when every check passes)
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const base = process.argv[2];
if (!base) { console.error('usage: node test.mjs BASE_URL'); process.exit(2); }
const client = new OpenAI({ baseURL: base + '/v1', apiKey: 'unused', maxRetries: 0, timeout: 60_000 });

const models = await client.models.list();
const model = models.data[0].id;
console.log('model', model);

const completion = await client.completions.create({ model, prompt: 'Hello', max_tokens: 10, temperature: 0.7, seed: 1, logprobs: 2 });
assert.equal(completion.object, 'text_completion');
assert.equal(typeof completion.choices[0].text, 'string');
assert.equal(completion.choices[0].logprobs.tokens.length, completion.usage.completion_tokens);
assert.equal(completion.usage.total_tokens, completion.usage.prompt_tokens + completion.usage.completion_tokens);
console.log('completion ok:', JSON.stringify(completion.choices[0].text));

const chat = await client.chat.completions.create({
  model, max_tokens: 12, seed: 2, top_p: 0.9,
  messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }],
});
assert.equal(chat.choices[0].message.role, 'assistant');
assert.ok(['stop', 'length'].includes(chat.choices[0].finish_reason));
console.log('chat ok:', JSON.stringify(chat.choices[0].message.content));

const stream = await client.chat.completions.create({
  model, max_tokens: 12, seed: 2, top_p: 0.9, stream: true, stream_options: { include_usage: true },
  messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }],
});
let streamed = '', usage = null, finish = null;
for await (const chunk of stream) {
  if (chunk.usage) usage = chunk.usage;
  for (const c of chunk.choices) {
    streamed += c.delta?.content ?? '';
    if (c.finish_reason) finish = c.finish_reason;
  }
}
assert.equal(streamed, chat.choices[0].message.content, 'same seed: streamed text equals the non-streamed one');
assert.ok(finish);
assert.equal(usage.completion_tokens, chat.usage.completion_tokens);
console.log('stream ok');

await assert.rejects(
  client.completions.create({ model, prompt: 'Hello', temperature: 5 }),
  (err) => {
    assert.ok(err instanceof OpenAI.BadRequestError, 'a 400 becomes BadRequestError');
    assert.equal(err.status, 400);
    assert.equal(err.param, 'temperature');
    assert.equal(err.type, 'invalid_request_error');
    return true;
  });
console.log('400 ok');
console.log('all checks passed');
