/**
 * Trainer profiles: the operator, not the caller, decides what a trainer
 * runs as. A request names a profile (`cpu`, `gpu`, ...); the profile fixes
 * the image, the backend and the resources, and bounds the GPUs and memory
 * a request may ask for (a request may only lower them).
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { quantityValue } from './quantity.js';
import { DEFAULT_TRAINER_IMAGE } from './job-template.js';
import {
  TrainerImageNotAllowedError, TrainerProfilesError, TrainerResourceLimitError, UnknownTrainerProfileError, InvalidTrainerResourcesError,
} from './errors.js';

/** One operator-defined trainer profile. */
export interface TrainerProfile {
  /** Its name, as requests give it (spec.resources.profile). */
  name: string;
  /** Container image of the trainers. */
  image: string;
  /** NAS_BACKEND of the trainers (auto, tensorflow, webgpu, wasm, cpu). @default the template's */
  backend?: string;
  /** CPU request (Kubernetes quantity). @default the template's */
  cpu?: string;
  /** CPU limit. @default none */
  cpuLimit?: string;
  /** Memory request and limit given when a request names none. */
  memory: string;
  /** Most memory a request may ask for. @default memory */
  maxMemory: string;
  /** GPUs per trainer when a request names none. @default 0 */
  gpus: number;
  /** Most GPUs per trainer a request may ask for. @default gpus */
  maxGpus: number;
}

/** The profiles an operator allows, and which one a request without a profile gets. */
export interface TrainerProfiles {
  defaultProfile: string;
  profiles: ReadonlyMap<string, TrainerProfile>;
}

/** What a request says about its trainers (SearchSpec.resources). */
export interface TrainerResourceRequest {
  profile?: string;
  /** Refused when set: images come from profiles. */
  image?: string;
  /** 0 / unset: the profile's. */
  gpus?: number;
  /** Unset: the profile's. */
  memory?: string;
  /** Unset: the profile's. */
  cpu?: string;
  /** Unset: the profile's; anything else must equal it. */
  backend?: string;
}

/** A profile applied to a request: exactly what the launcher puts into the trainers. */
export interface ResolvedTrainer {
  profile: string;
  image: string;
  gpusPerTrainer: number;
  backend?: string;
  cpu?: string;
  cpuLimit?: string;
  memory: string;
}

// The smallest useful trainer: one wasm thread needs one CPU (DESIGN.md section 3),
// and 2 GiB holds a search-size child (the base template's request).
export function defaultTrainerProfiles(): TrainerProfiles {
  const cpu: TrainerProfile = { name: 'cpu', image: DEFAULT_TRAINER_IMAGE, backend: 'wasm', cpu: '1', memory: '2Gi', maxMemory: '4Gi', gpus: 0, maxGpus: 0 };
  return { defaultProfile: 'cpu', profiles: new Map([['cpu', cpu]]) };
}

const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const BACKEND = /^[a-z0-9-]+$/;

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function quantity(source: string, field: string, value: unknown): string {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) return String(value);
  if (typeof value !== 'string' || quantityValue(value) === undefined || quantityValue(value)! <= 0) {
    throw new TrainerProfilesError(source, field, `expected a positive Kubernetes quantity such as "2", "500m" or "4Gi", got ${JSON.stringify(value)}`);
  }
  return value;
}

function count(source: string, field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 64) throw new TrainerProfilesError(source, field, `expected an integer from 0 to 64, got ${JSON.stringify(value)}`);
  return value;
}

const PROFILE_KEYS = new Set(['image', 'backend', 'cpu', 'cpuLimit', 'memory', 'maxMemory', 'gpus', 'maxGpus']);

/**
 * Checks a profiles document (the parsed YAML or JSON of the operator's
 * file): `{ default?: name, profiles: { name: { image, memory, ... } } }`.
 * `source` (the file) and the field are named in every error.
 */
export function parseTrainerProfiles(value: unknown, source: string): TrainerProfiles {
  if (!isObject(value)) throw new TrainerProfilesError(source, '(root)', 'expected a mapping with `profiles`');
  for (const key of Object.keys(value)) if (key !== 'profiles' && key !== 'default') throw new TrainerProfilesError(source, key, 'unknown field (expected default, profiles)');
  if (!isObject(value.profiles) || Object.keys(value.profiles).length === 0) throw new TrainerProfilesError(source, 'profiles', 'expected a mapping of at least one profile name to its settings');
  const profiles = new Map<string, TrainerProfile>();
  for (const [name, raw] of Object.entries(value.profiles)) {
    const at = `profiles.${name}`;
    if (!NAME.test(name)) throw new TrainerProfilesError(source, at, 'a profile name is lower-case letters, digits and -, at most 63');
    if (!isObject(raw)) throw new TrainerProfilesError(source, at, 'expected a mapping');
    for (const key of Object.keys(raw)) if (!PROFILE_KEYS.has(key)) throw new TrainerProfilesError(source, `${at}.${key}`, `unknown field (expected ${[...PROFILE_KEYS].join(', ')})`);
    if (typeof raw.image !== 'string' || raw.image === '' || /\s/.test(raw.image)) throw new TrainerProfilesError(source, `${at}.image`, 'expected an image reference without spaces');
    if (raw.backend !== undefined && (typeof raw.backend !== 'string' || !BACKEND.test(raw.backend))) throw new TrainerProfilesError(source, `${at}.backend`, 'expected a backend name such as "wasm" or "tensorflow"');
    const memory = quantity(source, `${at}.memory`, raw.memory);
    const maxMemory = raw.maxMemory === undefined ? memory : quantity(source, `${at}.maxMemory`, raw.maxMemory);
    if (quantityValue(maxMemory)! < quantityValue(memory)!) throw new TrainerProfilesError(source, `${at}.maxMemory`, `${maxMemory} is below memory (${memory})`);
    const gpus = raw.gpus === undefined ? 0 : count(source, `${at}.gpus`, raw.gpus);
    const maxGpus = raw.maxGpus === undefined ? gpus : count(source, `${at}.maxGpus`, raw.maxGpus);
    if (maxGpus < gpus) throw new TrainerProfilesError(source, `${at}.maxGpus`, `${maxGpus} is below gpus (${gpus})`);
    profiles.set(name, {
      name, image: raw.image, memory, maxMemory, gpus, maxGpus,
      ...(raw.backend !== undefined ? { backend: raw.backend as string } : {}),
      ...(raw.cpu !== undefined ? { cpu: quantity(source, `${at}.cpu`, raw.cpu) } : {}),
      ...(raw.cpuLimit !== undefined ? { cpuLimit: quantity(source, `${at}.cpuLimit`, raw.cpuLimit) } : {}),
    });
  }
  const defaultProfile = value.default ?? (profiles.has('cpu') ? 'cpu' : [...profiles.keys()][0]!);
  if (typeof defaultProfile !== 'string' || !profiles.has(defaultProfile)) {
    throw new TrainerProfilesError(source, 'default', `${JSON.stringify(defaultProfile)} is not one of the profiles (${[...profiles.keys()].join(', ')})`);
  }
  return { defaultProfile, profiles };
}

/**
 * Applies the operator's profile to a request. An image is refused
 * (TrainerImageNotAllowedError), an unknown profile too
 * (UnknownTrainerProfileError, naming the known ones); GPUs and memory
 * above the profile's maxima are TrainerResourceLimitError.
 */
export function resolveTrainerProfile(profiles: TrainerProfiles, request: TrainerResourceRequest = {}): ResolvedTrainer {
  const known = [...profiles.profiles.keys()];
  if (request.image !== undefined && request.image !== '') throw new TrainerImageNotAllowedError(request.image, known);
  const name = request.profile || profiles.defaultProfile;
  const p = profiles.profiles.get(name);
  if (!p) throw new UnknownTrainerProfileError(name, known);
  const gpus = request.gpus ?? 0;
  if (!Number.isInteger(gpus) || gpus < 0) throw new InvalidTrainerResourcesError('gpus', `expected an integer >= 0, got ${gpus}`);
  if (gpus > p.maxGpus) throw new TrainerResourceLimitError('gpus', String(gpus), p.name, String(p.maxGpus));
  let memory = p.memory;
  if (request.memory) {
    const asked = quantityValue(request.memory);
    if (asked === undefined || asked <= 0) throw new InvalidTrainerResourcesError('memory', `'${request.memory.slice(0, 40)}' is not a Kubernetes quantity such as "4Gi"`);
    if (asked > quantityValue(p.maxMemory)!) throw new TrainerResourceLimitError('memory', request.memory, p.name, p.maxMemory);
    memory = request.memory;
  }
  let cpu = p.cpu;
  if (request.cpu) {
    const asked = quantityValue(request.cpu);
    if (asked === undefined || asked <= 0) throw new InvalidTrainerResourcesError('cpu', `'${request.cpu.slice(0, 40)}' is not a Kubernetes quantity such as "2" or "500m"`);
    const most = p.cpuLimit ?? p.cpu;
    if (most !== undefined && asked > quantityValue(most)!) throw new TrainerResourceLimitError('cpu', request.cpu, p.name, most);
    cpu = request.cpu;
  }
  if (request.backend && p.backend !== undefined && request.backend !== p.backend) {
    throw new InvalidTrainerResourcesError('backend', `profile '${p.name}' trains with '${p.backend}'; leave it empty or pick another profile`);
  }
  const backend = p.backend ?? (request.backend || undefined);
  return {
    profile: p.name, image: p.image, gpusPerTrainer: gpus > 0 ? gpus : p.gpus, memory,
    ...(backend !== undefined ? { backend } : {}), ...(cpu !== undefined ? { cpu } : {}), ...(p.cpuLimit !== undefined ? { cpuLimit: p.cpuLimit } : {}),
  };
}

/** Reads and checks a profiles file (YAML or JSON), synchronously: it is read once, at the process edge. */
export function loadTrainerProfiles(path: string): TrainerProfiles {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new TrainerProfilesError(path, '(file)', `cannot be read (${(cause as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (cause) {
    throw new TrainerProfilesError(path, '(file)', `is not valid YAML or JSON: ${(cause as Error).message.split('\n')[0]}`);
  }
  return parseTrainerProfiles(value, path);
}
