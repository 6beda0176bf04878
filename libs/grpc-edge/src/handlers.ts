import { Metadata, status } from '@grpc/grpc-js';
import type { ServerUnaryCall, ServerWritableStream, StatusObject, UntypedHandleCall, sendUnaryData } from '@grpc/grpc-js';
import { MalformedRequestError, UnauthenticatedError } from './errors.js';
import type { CallContext, ErrorTable } from './types.js';

/** The request bytes as they arrived: decoded by the handler only after the caller is known. */
export class EncodedRequest {
  constructor(readonly bytes: Buffer) {}
}

/** What startGrpcServer gives each handler: the method's decoder, the token check and the status builder. */
export interface MethodRuntime {
  /** e.g. `SubmitSearch`. */
  readonly method: string;
  /** The caller's token name; throws UnauthenticatedError when the server checks tokens and none matches. */
  callerOf(metadata: Metadata): string | undefined;
  /** Throws MalformedRequestError when the bytes are no message of the request type. */
  decode(request: unknown): unknown;
  /** The one place an error becomes a status. */
  toStatus(err: unknown, errors: ErrorTable): StatusObject;
}

const EDGE = Symbol('grpc-edge method');

/** A handler made by unary() or serverStream(); startGrpcServer turns it into a grpc-js handler. */
export interface EdgeMethod {
  readonly kind: 'unary' | 'serverStream';
  readonly [EDGE]: (runtime: MethodRuntime) => UntypedHandleCall;
}

export function isEdgeMethod(value: unknown): value is EdgeMethod {
  return typeof value === 'object' && value !== null && EDGE in value;
}

export function bindEdgeMethod(method: EdgeMethod, runtime: MethodRuntime): UntypedHandleCall {
  return method[EDGE](runtime);
}

type AnyServerCall = ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>;

function contextOf(runtime: MethodRuntime, call: AnyServerCall): CallContext {
  const caller = runtime.callerOf(call.metadata);
  const abort = new AbortController();
  call.once('cancelled', () => abort.abort(new Error('the client cancelled the call')));
  return { caller, peer: call.getPeer(), signal: abort.signal };
}

/**
 * A unary handler: the token is checked, then the request decoded, then
 * `fn` runs; what it throws becomes a status through the service's table.
 */
export function unary<Req, Res>(errors: ErrorTable, fn: (request: Req, ctx: CallContext) => Res | Promise<Res>): EdgeMethod {
  return {
    kind: 'unary',
    [EDGE]: (runtime) => async (call: ServerUnaryCall<unknown, Res>, callback: sendUnaryData<Res>) => {
      try {
        const ctx = contextOf(runtime, call);
        const request = runtime.decode(call.request) as Req;
        callback(null, await fn(request, ctx));
      } catch (err) {
        callback(runtime.toStatus(err, errors), null);
      }
    },
  };
}

/** A numbered event, as the watch streams send them. */
export interface SequencedMessage {
  sequence: number;
}

/**
 * The events of one job, replayable from any sequence number (the job
 * registries keep a numbered log), which is what lets a stream stop
 * reading while the client is slow and pick up where it was.
 */
export interface EventFeed<E extends SequencedMessage> {
  /** The first sequence number the client asked for. */
  from: number;
  /**
   * Delivers the events from `from` on, stored ones first, then live ones,
   * then 'end' once the job is final and all were delivered. `deliver`
   * returns false once the stream takes no more for now: a feed may stop
   * a replay there (the stop function comes as well). Returns (or
   * resolves to) a function that stops delivery. May throw or reject
   * (e.g. an unknown job): the error becomes the stream's status.
   */
  subscribe(from: number, deliver: (event: E | 'end') => boolean): (() => void) | Promise<() => void>;
}

interface Subscription {
  active: boolean;
  stop?: () => void;
}

/**
 * A server-streaming handler over an event feed, with backpressure: when
 * call.write() says the stream is full, the subscription is dropped and,
 * on 'drain', taken up again from the next sequence number. Nothing is
 * buffered beyond the stream's own high-water mark, however slowly the
 * client reads.
 */
export function serverStream<Req, E extends SequencedMessage>(
  errors: ErrorTable,
  open: (request: Req, ctx: CallContext) => EventFeed<E> | Promise<EventFeed<E>>,
): EdgeMethod {
  return {
    kind: 'serverStream',
    [EDGE]: (runtime) => async (call: ServerWritableStream<unknown, E>) => {
      let over = false;
      // grpc-js ends a server stream with a status through an 'error' event (destroy() would report CANCELLED).
      const fail = (err: unknown) => {
        over = true;
        call.emit('error', runtime.toStatus(err, errors));
      };
      let feed: EventFeed<E>;
      try {
        const ctx = contextOf(runtime, call);
        feed = await open(runtime.decode(call.request) as Req, ctx);
      } catch (err) {
        fail(err);
        return;
      }
      let last = feed.from - 1;
      let current: Subscription | undefined;
      const stop = (sub: Subscription) => {
        if (!sub.active) return;
        sub.active = false;
        sub.stop?.();
      };
      const subscribe = async (from: number) => {
        const sub: Subscription = { active: true };
        current = sub;
        const unsubscribe = await feed.subscribe(from, (event) => {
          if (!sub.active) return false;
          if (event === 'end') {
            over = true;
            stop(sub);
            call.end();
            return false;
          }
          // A replay after a pause may repeat what was already sent.
          if (event.sequence <= last) return true;
          last = event.sequence;
          if (call.write(event)) return true;
          stop(sub);
          call.once('drain', () => {
            if (!over) subscribe(last + 1).catch(fail);
          });
          return false;
        });
        // The feed may have delivered, and been told to stop, before its stop function came.
        if (sub.active) sub.stop = unsubscribe;
        else unsubscribe();
      };
      const finish = () => {
        over = true;
        if (current) stop(current);
      };
      call.on('cancelled', finish);
      call.on('close', finish);
      await subscribe(feed.from).catch(fail);
    },
  };
}

/** Builds the status of a failed call: the edge's own errors, then the service's table, else INTERNAL (logged). */
export function statusOf(err: unknown, errors: ErrorTable, log: (line: string) => void, method: string): StatusObject {
  const make = (code: status, details: string, field?: string): StatusObject => {
    const metadata = new Metadata();
    if (field) metadata.set('field', field);
    return { code, details, metadata };
  };
  if (err instanceof UnauthenticatedError) return make(status.UNAUTHENTICATED, err.message);
  if (err instanceof MalformedRequestError) return make(status.INVALID_ARGUMENT, err.message);
  let mapped;
  try {
    mapped = errors(err);
  } catch (tableErr) {
    log(`${method}: the error table threw on an error: ${describe(tableErr)}`);
  }
  if (mapped) return make(mapped.code, mapped.message, mapped.field);
  // An error nobody expected may carry internals (paths, hosts): the client gets a generic line, the log the rest.
  log(`${method}: unexpected error: ${describe(err)}`);
  return make(status.INTERNAL, `internal error in ${method}; the server logged the details`);
}

function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
