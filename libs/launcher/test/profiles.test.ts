import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  defaultTrainerProfiles, loadTrainerProfiles, quantityValue, resolveTrainerProfile, DEFAULT_TRAINER_IMAGE,
  TrainerImageNotAllowedError, TrainerProfilesError, TrainerResourceLimitError, UnknownTrainerProfileError, InvalidTrainerResourcesError,
} from '@nasnet/launcher';

const dir = mkdtempSync(join(tmpdir(), 'launcher-profiles-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

test('trainer profiles - the built-in default is one cpu profile on the default trainer image', () => {
  const p = defaultTrainerProfiles();
  assert.equal(p.defaultProfile, 'cpu');
  assert.deepEqual(resolveTrainerProfile(p), { profile: 'cpu', image: DEFAULT_TRAINER_IMAGE, gpusPerTrainer: 0, memory: '2Gi', backend: 'wasm', cpu: '1' });
});

test('trainer profiles - a YAML or JSON file is read, and every bad field is named with the file', () => {
  const json = file('p.json', JSON.stringify({ default: 'gpu', profiles: { gpu: { image: 'r/t:gpu', memory: '8Gi', maxMemory: '16Gi', gpus: 1, maxGpus: 4, backend: 'tensorflow' } } }));
  const p = loadTrainerProfiles(json);
  assert.equal(p.defaultProfile, 'gpu');
  assert.deepEqual(resolveTrainerProfile(p, { gpus: 2, memory: '12Gi' }), { profile: 'gpu', image: 'r/t:gpu', gpusPerTrainer: 2, memory: '12Gi', backend: 'tensorflow' });
  const cases: Array<[string, RegExp]> = [
    ['profiles: {}', /: profiles: expected a mapping of at least one profile/],
    ['profiles: { Big_One: { image: x, memory: 1Gi } }', /: profiles\.Big_One: a profile name is lower-case/],
    ['profiles: { cpu: { memory: 1Gi } }', /: profiles\.cpu\.image: expected an image reference/],
    ['profiles: { cpu: { image: x, memory: lots } }', /: profiles\.cpu\.memory: expected a positive Kubernetes quantity/],
    ['profiles: { cpu: { image: x, memory: 4Gi, maxMemory: 2Gi } }', /: profiles\.cpu\.maxMemory: 2Gi is below memory \(4Gi\)/],
    ['profiles: { cpu: { image: x, memory: 1Gi, gpus: 2, maxGpus: 1 } }', /: profiles\.cpu\.maxGpus: 1 is below gpus \(2\)/],
    ['profiles: { cpu: { image: x, memory: 1Gi, privileged: true } }', /: profiles\.cpu\.privileged: unknown field/],
    ['default: gpu\nprofiles: { cpu: { image: x, memory: 1Gi } }', /: default: "gpu" is not one of the profiles \(cpu\)/],
    ['profiles: [', /: \(file\): is not valid YAML or JSON/],
  ];
  for (const [i, [text, message]] of cases.entries()) {
    const path = file(`bad-${i}.yaml`, text);
    assert.throws(() => loadTrainerProfiles(path), (e: unknown) => e instanceof TrainerProfilesError && e.message.startsWith(`trainer profiles ${path}`) && message.test(e.message), text);
  }
  assert.throws(() => loadTrainerProfiles(join(dir, 'missing.yaml')), /\(file\): cannot be read \(ENOENT\)/);
});

test('trainer profiles - a request may name a profile and lower its resources, never choose an image or exceed a maximum', () => {
  const p = loadTrainerProfiles(file('two.yaml', 'profiles:\n  cpu: { image: r/t:1, memory: 2Gi, maxMemory: 4Gi, cpu: "1", cpuLimit: "2" }\n  gpu: { image: r/t:gpu, memory: 16Gi, gpus: 1, maxGpus: 2, backend: tensorflow }\n'));
  assert.throws(() => resolveTrainerProfile(p, { image: 'evil/miner' }), (e: unknown) => e instanceof TrainerImageNotAllowedError && /name a profile instead \(cpu, gpu\)/.test(e.message));
  assert.throws(() => resolveTrainerProfile(p, { profile: 'tpu' }), (e: unknown) => e instanceof UnknownTrainerProfileError && e.message === "unknown trainer profile 'tpu'; known profiles: cpu, gpu");
  assert.throws(() => resolveTrainerProfile(p, { profile: 'gpu', gpus: 3 }), (e: unknown) => e instanceof TrainerResourceLimitError && e.field === 'gpus' && e.limit === '2');
  assert.throws(() => resolveTrainerProfile(p, { memory: '5Gi' }), (e: unknown) => e instanceof TrainerResourceLimitError && e.field === 'memory' && e.limit === '4Gi');
  assert.throws(() => resolveTrainerProfile(p, { cpu: '3' }), (e: unknown) => e instanceof TrainerResourceLimitError && e.field === 'cpu' && e.limit === '2');
  assert.throws(() => resolveTrainerProfile(p, { memory: 'a lot' }), InvalidTrainerResourcesError);
  assert.throws(() => resolveTrainerProfile(p, { profile: 'gpu', backend: 'wasm' }), (e: unknown) => e instanceof InvalidTrainerResourcesError && e.field === 'backend');
  assert.deepEqual(resolveTrainerProfile(p, { memory: '3Gi', cpu: '500m' }), { profile: 'cpu', image: 'r/t:1', gpusPerTrainer: 0, memory: '3Gi', cpu: '500m', cpuLimit: '2' });
  assert.deepEqual(resolveTrainerProfile(p, { profile: 'gpu' }), { profile: 'gpu', image: 'r/t:gpu', gpusPerTrainer: 1, memory: '16Gi', backend: 'tensorflow' });
});

test('quantities - Kubernetes suffixes compare as the API server reads them', () => {
  assert.equal(quantityValue('1536Mi'), 1.5 * 2 ** 30);
  assert.equal(quantityValue('500m'), 0.5);
  assert.equal(quantityValue('2G'), 2e9);
  assert.equal(quantityValue('1e3'), 1000);
  assert.equal(quantityValue('4 Gi'), undefined);
  assert.ok(quantityValue('1.5Gi')! < quantityValue('2G')!);
});
