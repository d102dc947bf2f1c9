console.error(`failing on purpose with ${process.env.EXIT_WITH}`);
process.exit(Number(process.env.EXIT_WITH));
