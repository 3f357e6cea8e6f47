// Start-up floor: the bare runtime running one line.
console.log("ok");
