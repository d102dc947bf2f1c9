process.on("SIGTERM", () => console.log("ignoring SIGTERM"));
console.log("started");
setInterval(() => {}, 1000);
