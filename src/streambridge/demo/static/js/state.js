// The agent state a client keeps: streambridge's set / append-text operations, and the RFC 6902
// patches AG-UI sends.  Both return the new root (a change at the root replaces it).

const UNSAFE = new Set(["__proto__", "constructor", "prototype"]);

function key(segment) {
  if (UNSAFE.has(segment)) throw new Error(`unsafe state key ${segment}`);
  return segment;
}

/** Apply streambridge state operations ({type: "set" | "append-text", path, value}). */
export function applyOperations(root, operations) {
  for (const { type, path, value } of operations) {
    const update = (current) => {
      if (type === "set") return structuredClone(value);
      if (type === "append-text" && typeof current === "string") return current + value;
      throw new Error(`cannot apply ${type} at /${path.join("/")}`);
    };
    if (path.length === 0) {
      root = update(root);
      continue;
    }
    root = root !== null && typeof root === "object" ? root : {};
    let container = root;
    for (const segment of path.slice(0, -1)) {
      container[key(segment)] ??= {}; // a missing or null step on the way becomes an object
      container = container[segment];
    }
    const last = key(path[path.length - 1]);
    container[last] = update(container[last]); // an index equal to the length appends
  }
  return root;
}

/** Apply RFC 6902 operations: add, replace and remove (move, copy and test are not supported). */
export function applyPatch(root, patch) {
  for (const { op, path, value } of patch) root = change(root, path, op, value);
  return root;
}

function tokens(pointer) {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) throw new Error(`not a JSON pointer: ${pointer}`);
  return pointer.slice(1).split("/").map((t) => key(t.replaceAll("~1", "/").replaceAll("~0", "~")));
}

function change(root, pointer, op, value) {
  const path = tokens(pointer);
  if (path.length === 0) return op === "remove" ? null : structuredClone(value);
  const parent = path.slice(0, -1).reduce((node, token) => node[token], root);
  const last = path[path.length - 1];
  if (Array.isArray(parent)) {
    const index = last === "-" ? parent.length : Number(last);
    if (op === "add") parent.splice(index, 0, structuredClone(value));
    else if (op === "replace") parent[index] = structuredClone(value);
    else if (op === "remove") parent.splice(index, 1);
    else throw new Error(`unknown patch operation ${op}`);
  } else if (op === "remove") {
    delete parent[last];
  } else if (op === "add" || op === "replace") {
    parent[last] = structuredClone(value);
  } else {
    throw new Error(`unknown patch operation ${op}`);
  }
  return root;
}
