// A minimal Rollup app: resolve packages from node_modules, ES module output.
import { nodeResolve } from "@rollup/plugin-node-resolve";

export default {
  input: "src/index.js",
  output: { dir: "dist", format: "es" },
  plugins: [nodeResolve()],
};
