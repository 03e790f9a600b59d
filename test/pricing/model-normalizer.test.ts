import test from 'ava';
import { ModelIdParser, normalizeModel, parseModelId } from '../../src/pricing/model-normalizer.js';

const spellings: [string, string][] = [
  ['claude-sonnet-4-5', 'claude-sonnet-4-5-20250929'],
  ['claude-sonnet-4-5-20250929', 'claude-sonnet-4-5-20250929'],
  ['claude-haiku-4-5', 'claude-haiku-4-5-20251001'],
  ['claude-opus-4-0', 'claude-opus-4-20250514'],
  ['claude-4-opus-20250514', 'claude-opus-4-20250514'],
  ['claude-sonnet-4-0', 'claude-sonnet-4-20250514'],
  ['claude-3-5-sonnet-latest', 'claude-3-5-sonnet-20241022'],
  ['claude-3-7-sonnet-latest', 'claude-3-7-sonnet-20250219'],
  ['claude-3-opus-latest', 'claude-3-opus-20240229'],
  ['Claude-Opus-4-6', 'claude-opus-4-6'],
  // Bedrock
  ['us.anthropic.claude-opus-4-1-20250805-v1:0', 'claude-opus-4-1-20250805'],
  ['eu.anthropic.claude-sonnet-4-5-20250929-v1:0', 'claude-sonnet-4-5-20250929'],
  ['apac.anthropic.claude-3-5-sonnet-20241022-v2:0', 'claude-3-5-sonnet-20241022'],
  ['global.anthropic.claude-haiku-4-5-20251001-v1:0', 'claude-haiku-4-5-20251001'],
  ['anthropic.claude-opus-4-6-v1', 'claude-opus-4-6'],
  ['anthropic.claude-haiku-5-5', 'claude-haiku-5-5'],
  ['anthropic.claude-3-haiku-20240307-v1:0:200k', 'claude-3-haiku-20240307'],
  ['arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0', 'claude-sonnet-4-20250514'],
  // Vertex
  ['claude-opus-4@20250514', 'claude-opus-4-20250514'],
  ['claude-sonnet-4-5@20250929', 'claude-sonnet-4-5-20250929'],
  ['claude-3-5-sonnet-v2@20241022', 'claude-3-5-sonnet-20241022'],
  ['claude-3-5-haiku@20241022', 'claude-3-5-haiku-20241022'],
  ['claude-opus-4-6@default', 'claude-opus-4-6'],
  // Claude Code
  ['claude-opus-4-6[1m]', 'claude-opus-4-6'],
  ['claude-sonnet-4-5-20250929[1m]', 'claude-sonnet-4-5-20250929'],
];

for (const [id, canonical] of spellings) {
  test(`normalizeModel(${JSON.stringify(id)}) is ${canonical}`, (t) => {
    t.is(normalizeModel(id), canonical);
    t.true(parseModelId(id).known);
  });
}

test('an unknown id is cleaned, not mapped to another model (a new snapshot may cost differently)', (t) => {
  t.is(normalizeModel('claude-haiku-4-5-20261201'), 'claude-haiku-4-5-20261201');
  t.false(parseModelId('claude-haiku-4-5-20261201').known);
  t.is(normalizeModel('us.anthropic.claude-foo-9-v1:0'), 'claude-foo-9');
  t.is(normalizeModel('opus'), 'opus'); // Claude Code client alias: not an API id
  t.is(normalizeModel(''), null);
  t.is(normalizeModel(null), null);
  t.is(normalizeModel(undefined), null);
});

test('Bedrock endpoints: global., geographic and in-region ids', (t) => {
  t.is(parseModelId('global.anthropic.claude-sonnet-4-5-20250929-v1:0').bedrockEndpoint, 'global');
  t.is(parseModelId('us.anthropic.claude-sonnet-4-5-20250929-v1:0').bedrockEndpoint, 'regional');
  t.is(parseModelId('jp.anthropic.claude-sonnet-4-5-20250929-v1:0').bedrockEndpoint, 'regional');
  t.is(parseModelId('anthropic.claude-sonnet-4-5-20250929-v1:0').bedrockEndpoint, 'regional');
  t.is(parseModelId('claude-sonnet-4-5-20250929').bedrockEndpoint, null);
  t.is(parseModelId('claude-opus-4@20250514').platform, 'vertex');
  t.true(parseModelId('claude-opus-4-6[1m]').oneMillionContext);
});

test('the memo stays bounded when events carry endless distinct ids', (t) => {
  const parser = new ModelIdParser(new Map([['claude-x', 'claude-x']]));
  for (let i = 0; i < 20_000; i++) parser.parse(`claude-random-${i}`);
  t.is(parser.parse('claude-x').canonical, 'claude-x');
  t.is(parser.parse('claude-random-5').canonical, 'claude-random-5');
});
