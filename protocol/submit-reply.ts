import type { Result } from './result.js';

/** Where a request ended up: what `client submit` reports and a proof bundle starts from. */
export interface CommitReceipt {
  readonly height: number;
  readonly position: number;
  readonly result: Result;
  readonly resultName: string;
}

/** What the `submit` protocol answers, as UTF-8 JSON: a client needs no codec to read it. */
export type SubmitReply =
  | ({ readonly status: 'committed' } & CommitReceipt)
  | { readonly status: 'rejected' | 'ignored'; readonly reason: string }
  | { readonly status: 'timeout' };
