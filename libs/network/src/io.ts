import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tfc from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ModelLoadError, ModelSaveError } from './errors.js';
// Registers the custom layers a saved NASNet model refers to.
import './layers.js';

/** File names of a saved model (the TensorFlow.js layers format). */
export const MODEL_JSON_FILE = 'model.json';
export const WEIGHTS_FILE = 'weights.bin';

const BYTES_PER_ELEMENT: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, float16: 2, complex64: 8 };

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** An IOHandler that writes and reads `model.json` + `weights.bin` in a folder, with node:fs (no tfjs-node). */
export function folderIOHandler(dir: string): tfc.io.IOHandler {
  const jsonPath = join(dir, MODEL_JSON_FILE);
  const weightsPath = join(dir, WEIGHTS_FILE);
  return {
    async save(artifacts: tfc.io.ModelArtifacts): Promise<tfc.io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer) {
        throw new ModelSaveError(jsonPath, 'binary model topologies are not supported');
      }
      const weightData = tfc.io.CompositeArrayBuffer.join(artifacts.weightData ?? new ArrayBuffer(0));
      const modelJson: tfc.io.ModelJSON = {
        modelTopology: artifacts.modelTopology ?? {},
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tfl.version_layers}`,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs ?? [] }],
      };
      if (artifacts.trainingConfig !== undefined) modelJson.trainingConfig = artifacts.trainingConfig;
      if (artifacts.userDefinedMetadata !== undefined) modelJson.userDefinedMetadata = artifacts.userDefinedMetadata;
      try {
        await mkdir(dir, { recursive: true });
      } catch (err) {
        throw new ModelSaveError(dir, `cannot create the folder: ${errorText(err)}`, { cause: err });
      }
      try {
        await writeFile(weightsPath, new Uint8Array(weightData));
      } catch (err) {
        throw new ModelSaveError(weightsPath, errorText(err), { cause: err });
      }
      try {
        await writeFile(jsonPath, JSON.stringify(modelJson));
      } catch (err) {
        throw new ModelSaveError(jsonPath, errorText(err), { cause: err });
      }
      return { modelArtifactsInfo: tfc.io.getModelArtifactsInfoForJSON({ ...artifacts, weightData }) };
    },

    async load(): Promise<tfc.io.ModelArtifacts> {
      let text: string;
      try {
        text = await readFile(jsonPath, 'utf8');
      } catch (err) {
        throw new ModelLoadError(jsonPath, errorText(err), { cause: err });
      }
      let json: tfc.io.ModelJSON;
      try {
        json = JSON.parse(text) as tfc.io.ModelJSON;
      } catch (err) {
        throw new ModelLoadError(jsonPath, `invalid JSON: ${errorText(err)}`, { cause: err });
      }
      if (typeof json !== 'object' || json === null || json.modelTopology === undefined || !Array.isArray(json.weightsManifest)) {
        throw new ModelLoadError(jsonPath, 'missing modelTopology or weightsManifest');
      }
      const weightSpecs: tfc.io.WeightsManifestEntry[] = [];
      const buffers: ArrayBuffer[] = [];
      for (const group of json.weightsManifest) {
        weightSpecs.push(...group.weights);
        for (const path of group.paths) {
          const file = join(dir, path);
          try {
            const bytes = await readFile(file);
            buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
          } catch (err) {
            throw new ModelLoadError(file, errorText(err), { cause: err });
          }
        }
      }
      const weightData = tfc.io.CompositeArrayBuffer.join(buffers);
      let expected = 0;
      for (const spec of weightSpecs) {
        const size = BYTES_PER_ELEMENT[spec.dtype];
        if (size === undefined || spec.quantization !== undefined) {
          throw new ModelLoadError(jsonPath, `weight ${spec.name} has unsupported dtype ${spec.dtype}${spec.quantization ? ' (quantized)' : ''}`);
        }
        expected += size * spec.shape.reduce((a, b) => a * b, 1);
      }
      if (expected !== weightData.byteLength) {
        throw new ModelLoadError(
          weightsPath,
          `the manifest describes ${expected} bytes of weights, the weight files hold ${weightData.byteLength}`,
        );
      }
      const artifacts: tfc.io.ModelArtifacts = {
        modelTopology: json.modelTopology,
        weightSpecs,
        weightData,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
      };
      if (json.trainingConfig !== undefined) artifacts.trainingConfig = json.trainingConfig;
      if (json.userDefinedMetadata !== undefined) artifacts.userDefinedMetadata = json.userDefinedMetadata;
      return artifacts;
    },
  };
}

/** Save a model as `dir/model.json` + `dir/weights.bin` (TensorFlow.js layers format). */
export async function saveModel(model: tfl.LayersModel, dir: string): Promise<tfc.io.SaveResult> {
  return model.save(folderIOHandler(dir));
}

/** Load a model saved by saveModel (or any single-folder TensorFlow.js layers model). */
export async function loadModel(dir: string): Promise<tfl.LayersModel> {
  const handler = folderIOHandler(dir);
  try {
    return await tfl.loadLayersModel(handler);
  } catch (err) {
    if (err instanceof ModelLoadError) throw err;
    throw new ModelLoadError(join(dir, MODEL_JSON_FILE), errorText(err), { cause: err });
  }
}
