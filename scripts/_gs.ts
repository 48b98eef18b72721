import setup from "../test/global-setup.ts";
const teardown = await setup({ provide: (k: string, v: string) => console.log("provide", k, v) } as never);
console.log("setup ok");
await teardown();
console.log("teardown ok");
