/** A server bound beyond loopback with neither a bearer token nor TLS: the edge is closed by default. */
export class OpenServerError extends Error {
  readonly host: string;

  constructor(host: string, port: number, hint: string | undefined) {
    const set = hint ? `set ${hint}` : 'configure a bearer token or TLS';
    super(`refusing to serve on ${host}:${port} with neither a bearer token nor TLS: ${set}, or bind to 127.0.0.1 for local use`);
    this.name = 'OpenServerError';
    this.host = host;
  }
}

/** A TLS file (certificate, key or CA) cannot be read, or a certificate came without its key. */
export class TlsFileError extends Error {
  /** Which file: `cert`, `key`, `clientCa` (server side) or `ca` (client side). */
  readonly role: string;
  readonly path: string | undefined;

  constructor(role: string, path: string | undefined, reason: string, options?: ErrorOptions) {
    super(path === undefined ? `TLS ${role}: ${reason}` : `TLS ${role} '${path}': ${reason}`, options);
    this.name = 'TlsFileError';
    this.role = role;
    this.path = path;
  }
}

/** The list of named tokens cannot be used as given (an empty name or token, a name or a token twice). */
export class TokenListError extends Error {
  /** 0-based position in the list. */
  readonly index: number;

  constructor(index: number, reason: string) {
    super(`tokens[${index}]: ${reason}`);
    this.name = 'TokenListError';
    this.index = index;
  }
}

/** A service's handlers do not match its definition, or a handler was not made with unary()/serverStream(). */
export class HandlerSetupError extends Error {
  constructor(service: string, reason: string) {
    super(`${service}: ${reason}`);
    this.name = 'HandlerSetupError';
  }
}

/** The call carries no bearer token this server knows (answered UNAUTHENTICATED). */
export class UnauthenticatedError extends Error {
  constructor(message = 'missing or invalid bearer token') {
    super(message);
    this.name = 'UnauthenticatedError';
  }
}

/** The request bytes are not a protobuf message of the method's request type (answered INVALID_ARGUMENT). */
export class MalformedRequestError extends Error {
  constructor(method: string, reason: string, options?: ErrorOptions) {
    super(`malformed ${method} request: ${reason}`, options);
    this.name = 'MalformedRequestError';
  }
}

/** The server could not listen on its address (in use, not an address of this host, bad TLS material). */
export class BindError extends Error {
  readonly address: string;

  constructor(address: string, reason: string, options?: ErrorOptions) {
    super(`cannot serve gRPC on ${address}: ${reason}`, options);
    this.name = 'BindError';
    this.address = address;
  }
}
