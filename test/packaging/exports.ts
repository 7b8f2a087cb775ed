import ts from 'typescript'

/**
 * Each export of each declaration file with what it is: 'value', 'type' or 'value+type'. One
 * program for all the files, so fastify's types are read once.
 */
export function exportsOf (files: string[]): Array<Map<string, string>> {
  const program = ts.createProgram(files, {
    module: ts.ModuleKind.Node16, moduleResolution: ts.ModuleResolutionKind.Node16, strict: true, noEmit: true, types: ['node']
  })
  const checker = program.getTypeChecker()
  return files.map((file) => {
    const source = program.getSourceFile(file)
    const moduleSymbol = source === undefined ? undefined : checker.getSymbolAtLocation(source)
    if (moduleSymbol === undefined) throw new Error(`${file} is not a module`)
    const found = new Map<string, string>()
    for (const exported of checker.getExportsOfModule(moduleSymbol)) {
      const target = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported
      const kinds = [target.flags & ts.SymbolFlags.Value ? 'value' : '', target.flags & ts.SymbolFlags.Type ? 'type' : '']
      found.set(exported.name, kinds.filter(Boolean).join('+'))
    }
    return found
  })
}
