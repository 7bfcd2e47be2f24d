// Public surface of core/src/io: safetensors, module save/load, backend selection.
export {
  MAX_SAFETENSORS_HEADER_BYTES,
  decodeSafetensors,
  encodeSafetensors,
  readSafetensorsHeader,
} from './safetensors';
export type {
  DecodedSafetensors,
  EncodeSafetensorsOptions,
  SafetensorsDtype,
  SafetensorsEntry,
  SafetensorsHeader,
} from './safetensors';
export { KNOWN_DTYPES as SAFETENSORS_DTYPES } from './dtypes';
export { loadSafetensors, saveSafetensors } from './safetensors-file';
export { CONFIG_FILE, WEIGHTS_FILE, encodeModule, loadModule, saveModule } from './save-module';
export type { LoadModuleOptions, SaveModuleOptions } from './save-module';
export { CONFIG_METADATA_KEY, indexedDbStore, urlStore } from './module-store';
export type { ModuleArtifacts, ModuleSource, ModuleStore, ModuleTarget } from './module-store';
export {
  BACKEND_ORDER,
  BACKEND_PACKAGES,
  BROWSER_BACKEND_ORDER,
  initBackend,
  isNodeRuntime,
} from './backend';
export type { BackendAttempt, BackendChoice, BackendName, InitBackendOptions } from './backend';
