import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { DATASET_SPECS, DatasetFileMissingError, DatasetSpecError, loadDataset, syntheticDataset } from '../src/index.js';
import { writeCifar10Folder } from '../src/testing.js';

test('loadDataset - mnist, synthetic and cifar10:<folder> load their data sets', async () => {
  const mnist = await loadDataset('mnist', { mnist: { trainCount: 100, validationCount: 20, padTo32: true } });
  assert.deepEqual([mnist.name, mnist.train.count, mnist.validation.count, mnist.height], ['mnist', 100, 20, 32]);

  const synthetic = await loadDataset(' synthetic ', { seed: 5, synthetic: { trainCount: 30 } });
  assert.equal(synthetic.train.count, 30);
  assert.deepEqual(synthetic.train.images, syntheticDataset({ seed: 5, trainCount: 30 }).train.images);

  const { dir, cleanup } = writeCifar10Folder(2, 1);
  try {
    const cifar = await loadDataset(`cifar10:${dir}`, { cifar10: { strict: false, validationSize: 3 } });
    assert.deepEqual([cifar.name, cifar.train.count, cifar.validation.count, cifar.test?.count], ['cifar10', 7, 3, 1]);
  } finally {
    cleanup();
  }
});

test('loadDataset - the seed option reaches the mnist split unless mnist names its own', async () => {
  const a = await loadDataset('mnist', { seed: 3, mnist: { trainCount: 50, validationCount: 0 } });
  const b = await loadDataset('mnist', { mnist: { seed: 3, trainCount: 50, validationCount: 0 } });
  const c = await loadDataset('mnist', { mnist: { trainCount: 50, validationCount: 0 } });
  assert.deepEqual(a.train.labels, b.train.labels);
  assert.notDeepEqual(a.train.labels, c.train.labels);
});

test('loadDataset - an unknown or malformed spec names the accepted forms', async () => {
  for (const [spec, why] of [['imagenet', /'imagenet' is not a known data set/], ['', /the spec is empty/], ['cifar10', /needs the folder/], ['cifar10:', /needs the folder/], ['mnist:big', /mnist takes no argument/], ['cifar100:/x', /'cifar100' is not a known/]] as const) {
    await assert.rejects(loadDataset(spec), (err: unknown) => {
      assert.ok(err instanceof DatasetSpecError, spec);
      assert.match(err.message, why);
      for (const form of DATASET_SPECS) assert.ok(err.message.includes(form), `${spec}: message lacks ${form}`);
      return true;
    });
  }
});

test('loadDataset - a cifar10 folder that does not exist is reported by path', async () => {
  const folder = join(tmpdir(), 'nasnet-missing-cifar');
  await assert.rejects(loadDataset(`cifar10:${folder}`), (err: unknown) => err instanceof DatasetFileMissingError && err.path === folder);
});
