// `import path from "x.so" with { type: "file" }` gives the file's path (embedded in dist/hb).
declare module "*.so" {
  const path: string;
  export default path;
}
