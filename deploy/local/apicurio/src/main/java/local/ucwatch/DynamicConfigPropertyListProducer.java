package local.ucwatch;

import java.io.File;
import java.lang.reflect.Field;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.net.JarURLConnection;
import java.net.URL;
import java.net.URLConnection;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.List;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;

import javax.enterprise.context.ApplicationScoped;
import javax.enterprise.inject.Produces;

import org.eclipse.microprofile.config.inject.ConfigProperty;

import io.apicurio.common.apps.config.Dynamic;
import io.apicurio.common.apps.config.DynamicConfigPropertyDef;
import io.apicurio.common.apps.config.DynamicConfigPropertyList;

/**
 * Stand-in for the Quarkus extension io.apicurio:apicurio-common-app-components-config-index,
 * whose -deployment artifact is not published on Maven Central. That extension builds, at build
 * time, the list of fields annotated {@code @Dynamic @ConfigProperty}; this producer builds the same
 * list at start-up by reflection over the io/apicurio classes of the application jar.
 */
@ApplicationScoped
public class DynamicConfigPropertyListProducer {

    @Produces
    @ApplicationScoped
    public DynamicConfigPropertyList dynamicConfigPropertyList() {
        List<DynamicConfigPropertyDef> defs = new ArrayList<>();
        ClassLoader cl = DynamicConfigPropertyListProducer.class.getClassLoader();
        for (String className : applicationClassNames(cl)) {
            Class<?> c;
            try {
                c = Class.forName(className, false, cl);
            } catch (Throwable t) {
                continue;
            }
            Field[] fields;
            try {
                fields = c.getDeclaredFields();
            } catch (Throwable t) {
                continue;
            }
            for (Field f : fields) {
                ConfigProperty cp = f.getAnnotation(ConfigProperty.class);
                Dynamic dyn = f.getAnnotation(Dynamic.class);
                if (cp == null || dyn == null) {
                    continue;
                }
                Type t = f.getGenericType();
                Class<?> valueType = String.class;
                if (t instanceof ParameterizedType) {
                    Type arg = ((ParameterizedType) t).getActualTypeArguments()[0];
                    if (arg instanceof Class) {
                        valueType = (Class<?>) arg;
                    }
                }
                DynamicConfigPropertyDef def = new DynamicConfigPropertyDef(cp.name(), valueType, cp.defaultValue());
                if (!dyn.label().isEmpty()) def.setLabel(dyn.label());
                if (!dyn.description().isEmpty()) def.setDescription(dyn.description());
                if (dyn.requires().length > 0) def.setRequires(dyn.requires());
                defs.add(def);
            }
        }
        return new DynamicConfigPropertyList(defs);
    }

    private static List<String> applicationClassNames(ClassLoader cl) {
        List<String> names = new ArrayList<>();
        String self = DynamicConfigPropertyListProducer.class.getName().replace('.', '/') + ".class";
        try {
            URL url = cl.getResource(self);
            if (url == null) {
                return names;
            }
            if ("jar".equals(url.getProtocol())) {
                URLConnection conn = url.openConnection();
                String path = ((JarURLConnection) conn).getJarFileURL().getPath();
                try (JarFile jar = new JarFile(new File(java.net.URLDecoder.decode(path, "UTF-8")))) {
                    Enumeration<JarEntry> en = jar.entries();
                    while (en.hasMoreElements()) {
                        String n = en.nextElement().getName();
                        if (n.startsWith("io/apicurio/") && n.endsWith(".class")) {
                            names.add(n.substring(0, n.length() - 6).replace('/', '.'));
                        }
                    }
                }
            } else if ("file".equals(url.getProtocol())) {
                File root = new File(url.toURI());
                for (int i = 0; i < 3; i++) root = root.getParentFile();
                walk(new File(root, "io/apicurio"), "io.apicurio", names);
            }
        } catch (Exception e) {
            throw new RuntimeException("cannot list application classes", e);
        }
        return names;
    }

    private static void walk(File dir, String pkg, List<String> names) {
        File[] files = dir.listFiles();
        if (files == null) return;
        for (File f : files) {
            if (f.isDirectory()) {
                walk(f, pkg + "." + f.getName(), names);
            } else if (f.getName().endsWith(".class")) {
                names.add(pkg + "." + f.getName().substring(0, f.getName().length() - 6));
            }
        }
    }
}
