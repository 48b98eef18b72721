// preinstall: one line instead of a wall of EBADENGINE warnings (see .npmrc). Runs on whatever Node
// runs npm, so it stays plain JavaScript that any Node since 14 understands.
const major = Number(process.versions.node.split(".")[0]);
if (major < 24) {
  process.stderr.write(
    `calsync: Node ${process.version} here only runs npm; calsync itself runs on the Node 24 that npm installs with it (the "node" dev dependency).\n`,
  );
}
