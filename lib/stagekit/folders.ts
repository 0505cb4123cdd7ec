/**
 * Folder names inside stage outputs that later stages read, stated once so that no stage imports
 * another stage (which would also make every reader stale when the writer's code changes).
 *
 * @module
 */

/** Folder of the model (a Hugging Face GPT-2 directory) inside a pretrain output folder. */
export const modelDirName = "model";

/** Folder of the trained method (PEFT layout for adapters) inside a train output folder. */
export const adapterDirName = "adapter";
