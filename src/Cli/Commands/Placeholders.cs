namespace GraphEngine.Cli.Commands;

public static class RunCommand { public static int Execute(CommandContext ctx) => throw new NotImplementedException(); }
public static class ListCommand { public static int Execute(CommandContext ctx) => throw new NotImplementedException(); }
public static class BenchCommand { public static int Execute(CommandContext ctx, BenchOptions o) => throw new NotImplementedException(); }
