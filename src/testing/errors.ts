/**
 * Error bodies as the API sends them:
 * `{"type":"error","error":{"type","message","details"?},"request_id"}`.
 * Types and messages per status follow platform.claude.com/docs/en/api/errors.
 */
import type { ScriptError } from './script-types.js';

/** The error type the API uses for a status. */
export function errorTypeForStatus(status: number): string {
  switch (status) {
    case 400:
      return 'invalid_request_error';
    case 401:
      return 'authentication_error';
    case 402:
      return 'billing_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 409:
      return 'conflict_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 504:
      return 'timeout_error';
    case 529:
      return 'overloaded_error';
    default:
      return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

const MESSAGES: Record<string, string> = {
  invalid_request_error: 'There was an issue with the format or content of your request.',
  authentication_error: 'invalid x-api-key',
  billing_error: 'Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.',
  permission_error: 'Your API key does not have permission to use the specified resource.',
  not_found_error: 'The requested resource could not be found.',
  conflict_error: 'The request conflicts with the current state of the resource.',
  request_too_large: 'Request exceeds the maximum allowed number of bytes.',
  rate_limit_error:
    'This request would exceed the rate limit for your organization of 50 requests per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits.',
  timeout_error: 'Request timed out.',
  api_error: 'Internal server error',
  overloaded_error: 'Overloaded',
};

const CODE_MESSAGES: Record<string, string> = {
  enforced_spend_limit_reached:
    'You have reached your monthly spend limit for your usage tier. Your access will be restored at 00:00 UTC on the first day of next month.',
  contract_spend_limit_reached: 'You have reached the spend limit of your contract.',
  ramp_limit_exceeded: 'Your usage is increasing faster than your ramp limit allows. Please retry shortly.',
};

/** The JSON error body for a status and the script's error fields. */
export function errorBody(status: number, error: ScriptError | undefined, requestId: string): object {
  const type = error?.type ?? errorTypeForStatus(status);
  const code = error?.code;
  const message = error?.message ?? (code !== undefined ? CODE_MESSAGES[code] : undefined) ?? MESSAGES[type] ?? 'Error';
  const details = code !== undefined || error?.details ? { ...error?.details, ...(code !== undefined ? { error_code: code } : {}) } : undefined;
  return {
    type: 'error',
    error: { type, message, ...(details ? { details } : {}) },
    request_id: requestId,
  };
}

/**
 * Whether a status/error is one that the API sends with `retry-after` by default: a 429
 * without an error code (a plain rate limit). The spend-cap 429 has none.
 */
export function sendsRetryAfterByDefault(status: number, error: ScriptError | undefined): boolean {
  return status === 429 && error?.code === undefined;
}
