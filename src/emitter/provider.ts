/**
 * The platform a call went to, from the host of its request's URL, for a client whose scope
 * names none. The SDK's Bedrock, Vertex and Foundry clients (`@anthropic-ai/bedrock-sdk`…) run
 * the app's middleware on the canonical `/v1/messages` request and rewrite it for their
 * platform only inside, so the emitter records their calls like any other: only the base URL's
 * host tells them apart. Recorded as `anthropic`, a Bedrock call would miss its regional
 * premium and be compared with Anthropic's own bill.
 */
import type { Provider } from '../event/types.js';

const ANTHROPIC_API = 'https://api.anthropic.com/';

/** The last URL taken apart, and its platform: a client's calls go to one base URL (a gateway's, say). */
let lastUrl = '';
let lastProvider: Provider = 'anthropic';

export function providerOfUrl(url: string): Provider {
  // The common case first, without taking the URL apart.
  if (url.startsWith(ANTHROPIC_API)) return 'anthropic';
  if (url === lastUrl) return lastProvider;
  lastProvider = providerOfHost(hostOf(url));
  lastUrl = url;
  return lastProvider;
}

function providerOfHost(host: string): Provider {
  if (host.startsWith('bedrock-runtime') && (host.endsWith('.amazonaws.com') || host.endsWith('.amazonaws.com.cn'))) return 'bedrock';
  // `aiplatform.googleapis.com`, `<region>-aiplatform.googleapis.com`, `aiplatform.<region>.rep.googleapis.com`.
  if (host.endsWith('.googleapis.com') && (host.startsWith('aiplatform.') || host.includes('-aiplatform.'))) return 'vertex';
  if (host.endsWith('.services.ai.azure.com') || host.endsWith('.azure.anthropic.com')) return 'foundry';
  return 'anthropic';
}

/** The host of an absolute URL, lower case, without port or credentials. */
function hostOf(url: string): string {
  const scheme = url.indexOf('://');
  if (scheme === -1) return '';
  let end = url.length;
  for (const stop of ['/', '?', '#']) {
    const at = url.indexOf(stop, scheme + 3);
    if (at !== -1 && at < end) end = at;
  }
  let authority = url.slice(scheme + 3, end);
  authority = authority.slice(authority.lastIndexOf('@') + 1);
  const port = authority.lastIndexOf(':');
  // An IPv6 literal's colons are inside its brackets.
  if (port !== -1 && !authority.endsWith(']') && authority.indexOf(']', port) === -1) authority = authority.slice(0, port);
  return authority.toLowerCase();
}
