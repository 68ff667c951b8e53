return GraphEngine.Cli.CliApp.Start(args);
