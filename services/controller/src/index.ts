/**
 * The controller service: SearchService over gRPC around SearchManager.
 */
export { SearchManager, SearchNotFoundError, TooManySearchesError, readStoredSearch } from './manager.js';
export type { StoredSearch, SearchRunState, SequencedEvent, Launcher, SearchManagerOptions } from './manager.js';
export { CONTROLLER_AUTH_HINT, startControllerServer, searchServiceHandlers } from './grpc-server.js';
export type { ControllerServerOptions, RunningServer } from './grpc-server.js';
export { searchErrors } from './grpc-errors.js';
export { specFromProto, specToProto, statusToProto, eventToProto, InvalidRequestError } from './convert.js';
export { runController } from './run.js';
export type { RunControllerOptions, RunningController } from './run.js';
export { controllerConfigFromEnv, VARIABLES } from './config.js';
export type { ControllerConfig, LauncherKind } from './config.js';
